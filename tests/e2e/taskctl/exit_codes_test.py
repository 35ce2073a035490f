#!/usr/bin/env python3
"""taskctl wait and submit --wait exit codes: the task's own (7), 0, 1 (spawn
failure, cancelled, even when the task exited 0 on SIGTERM) and 124 (timeout);
get with an unknown id among known ones; a second cancel."""
import json
import re
import time

import taskctl_lib as lib
from taskctl_lib import check, ok, submit, tc, tc_ok, until


def body():
    tid = submit("--", "true")
    check(tc("wait", tid).returncode == 0, "wait on a succeeding task")
    r = tc("submit", "--wait", "--", "sh", "-c", "exit 7")
    check(r.returncode == 7, "submit --wait of exit 7: exit %d" % r.returncode)
    check(re.fullmatch(r"[0-9A-Z]{13}\n", r.stdout), "submit --wait stdout %r" % r.stdout)
    failed = r.stdout.strip()
    r = tc("wait", failed)
    check(r.returncode == 7, "wait on exit 7: exit %d" % r.returncode)
    check(r.stdout == "%s FAILED exit=7\n" % failed, "wait output %r" % r.stdout)
    r = tc("wait", failed, tid)
    check(r.returncode == 7, "wait FAILED-then-COMPLETED: exit %d (the failure must decide)"
          % r.returncode)
    r = tc("get", tid, "00000000000ZZ", failed)
    check(r.returncode == 1 and tid in r.stdout and failed in r.stdout and "not found" in r.stderr,
          "get with one unknown id among known ones: %d %r %r" % (r.returncode, r.stdout,
                                                                  r.stderr))
    r = tc("submit", "--wait", "--", "/nonexistent/program")
    check(r.returncode == 1, "submit --wait of a spawn failure: exit %d" % r.returncode)
    check("FAILED (SPAWN_FAILED)" in r.stderr and "/nonexistent/program" in r.stderr,
          "no reason for the spawn failure on stderr: %r" % r.stderr)
    sp = json.loads(tc_ok("get", "-o", "json", r.stdout.strip()))
    check(sp["state"] == "TASK_STATE_FAILED" and "exit_code" not in sp.get("result", {}),
          "spawn failure: %s" % sp)
    sleeper = submit("--", "sleep", "30")
    r = tc("wait", "--timeout", "300ms", sleeper)
    check(r.returncode == 124, "wait --timeout on a running task: exit %d" % r.returncode)
    check(r.stdout.startswith(sleeper + " RUNNING") or r.stdout.startswith(sleeper + " PENDING"),
          "timed-out wait output %r" % r.stdout)
    r = tc("cancel", "--grace", "1s", sleeper)
    check(r.returncode == 0 and r.stdout == sleeper + " CANCELLED\n", "cancel: %r" % r.stdout)
    r = tc("wait", sleeper)
    check(r.returncode == 1, "wait on a cancelled task: exit %d" % r.returncode)
    r = tc("cancel", sleeper)
    check(r.returncode == 1 and "failed precondition" in r.stderr, "second cancel: %r" % r.stderr)
    polite = submit("--", "sh", "-c", 'trap "exit 0" TERM; sleep 30 & wait')
    until(lambda: "RUNNING" in tc_ok("get", polite), "the polite task to run")
    time.sleep(0.2)  # its trap is set
    tc("cancel", polite)
    pj = json.loads(tc_ok("get", "-o", "json", polite))
    r = tc("wait", polite)
    check(pj["state"] == "TASK_STATE_CANCELLED" and r.returncode == 1,
          "a cancelled task that exited 0 on SIGTERM: %s, wait exit %d"
          % (pj.get("result"), r.returncode))
    ok("exit codes: task's own 7, 0, 1 (spawn failure, cancelled), 124 (timeout)")


lib.run("exit_codes", body)
