#!/usr/bin/env python3
"""taskctl: submit with every option; get -o json checked field by field, and
-o yaml, list -o jsonl and the table view saying the same, without colour on a
pipe."""
import json
import re

import yaml

import taskctl_lib as lib
from taskctl_lib import check, ok, submit, tc, tc_ok


def body():
    tid = submit("--name", "json-check", "--label", "team=infra", "--label", "tier=1",
                 "--env", "GREETING=hi", "--cwd", "/tmp", "--timeout", "1m30s",
                 "--kill-grace", "2s", "--priority", "5", "--queue", "io", "--retries", "2",
                 "--ttl", "2h", "--", "sh", "-c", 'echo "$GREETING from $(pwd)"')
    check(re.fullmatch(r"[0-9A-Z]{13}", tid), "submit -q printed %r" % tid)
    r = tc("wait", tid)
    check(r.returncode == 0, "wait on a succeeding task: exit %d" % r.returncode)
    t = json.loads(tc_ok("get", "-o", "json", tid))
    check(t["id"] == tid, "json id")
    check(t["state"] == "TASK_STATE_COMPLETED", "json state %s" % t["state"])
    check(t["reason"] == "TASK_REASON_SUCCEEDED", "json reason %s" % t.get("reason"))
    spec = t["spec"]
    check(spec["name"] == "json-check", "json name")
    check(spec["labels"] == {"team": "infra", "tier": "1"}, "json labels %s" % spec["labels"])
    check(spec["exec"]["argv"] == ["sh", "-c", 'echo "$GREETING from $(pwd)"'], "json argv")
    check(spec["exec"]["env"] == {"GREETING": "hi"}, "json env")
    check(spec["exec"]["cwd"] == "/tmp", "json cwd")
    check(spec["timeout"] == "90s", "json timeout %s" % spec["timeout"])
    check(spec["kill_grace"] == "2s", "json kill_grace %s" % spec["kill_grace"])
    check(spec["priority"] == 5, "json priority")
    check(spec["queue"] == "io", "json queue")
    check(spec["retry"]["max_attempts"] == 3, "json retry %s" % spec["retry"])
    check(spec["ttl"] == "7200s", "json ttl %s" % spec["ttl"])
    check(t["result"].get("exit_code", 0) == 0, "json exit code")
    check(t["attempt"] == 1, "json attempt")
    for k in ("create_time", "start_time", "end_time", "expire_time"):
        check(re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", t[k]), "json %s %r" % (k, t.get(k)))
    check(t["request_id"], "json request_id")
    check(tc_ok("logs", tid) == "hi from /tmp\n", "logs of the json task")
    ok("submit with every option; get -o json checked field by field")

    # yaml and jsonl say the same; the table view too.
    y = yaml.safe_load(tc_ok("get", "-o", "yaml", tid))
    check(y == t, "get -o yaml differs from -o json:\n%s\n%s" % (y, t))
    lines = tc_ok("list", "-o", "jsonl", "--label", "team=infra").splitlines()
    check(len(lines) == 1 and json.loads(lines[0])["id"] == tid, "list -o jsonl: %s" % lines)
    detail = tc_ok("get", tid)
    check(re.search(r"^state:\s+COMPLETED \(SUCCEEDED\)$", detail, re.M), "get table: " + detail)
    check("\x1b[" not in detail, "colour codes on a pipe")
    ok("-o yaml equals -o json; jsonl one task per line; no colour on a pipe")


lib.run("output", body)
