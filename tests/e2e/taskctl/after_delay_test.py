#!/usr/bin/env python3
"""taskctl submit --after waits for its dependency; --delay holds the start;
--payload @FILE and - (stdin)."""
import json
import os

import taskctl_lib as lib
from taskctl_lib import WORK, check, ok, submit, tc, tc_ok


def body():
    first = submit("--", "sleep", "0.3")
    second = submit("--after", first, "--", "true")
    check(tc("wait", second).returncode == 0, "--after task")
    a = json.loads(tc_ok("get", "-o", "json", first))
    b = json.loads(tc_ok("get", "-o", "json", second))
    check(b["start_time"] >= a["end_time"], "--after ran before its dependency ended")
    delayed = submit("--delay", "1s", "--", "true")
    d = json.loads(tc_ok("get", "-o", "json", delayed))
    check(d["state"] == "TASK_STATE_PENDING", "--delay: %s right after submit" % d["state"])
    check(tc("wait", delayed).returncode == 0, "--delay task")
    d = json.loads(tc_ok("get", "-o", "json", delayed))
    check(d["start_time"] >= d["spec"]["not_before"], "--delay: started before not_before")
    pfile = os.path.join(WORK, "payload.json")
    with open(pfile, "w") as f:
        f.write('{"seconds": 0.1}')
    hf = submit("--wait", "--handler", "sleep", "--payload", "@" + pfile)
    check(json.loads(tc_ok("get", "-o", "json", hf))["spec"]["handler"]["payload"]
          == '{"seconds": 0.1}', "--payload @FILE")
    with open(pfile) as f:
        hs = tc_ok("submit", "-q", "--handler", "sleep", "--payload", "-", stdin=f).strip()
    check(tc("wait", hs).returncode == 0, "--payload - (stdin)")
    ok("--after waits for its dependency; --delay holds the start; --payload @FILE and -")


lib.run("after_delay", body)
