#!/usr/bin/env python3
"""taskctl --help lists the exit codes; a wait that taskd ends by stopping is
not a timeout (exit 69, saying so); taskd exits 0 on SIGTERM; an unreachable
daemon is one line and exit 69."""
import signal
import subprocess
import time

import taskctl_lib as lib
from taskctl_lib import ENV, TASKCTL, check, fail, ok, submit, tc, tc_ok, until


def body():
    h = tc_ok("--help")
    check("124" in h and "69" in h and "usage" in h, "--help lacks the exit codes")
    long_task = submit("--", "sleep", "60")
    until(lambda: "RUNNING" in tc_ok("get", long_task), "the long task to run")
    waiter = subprocess.Popen([TASKCTL, "wait", long_task], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=ENV)
    time.sleep(0.5)  # the wait registers (if not yet, taskctl says it cannot reach taskd)
    lib.daemon.send_signal(signal.SIGTERM)
    try:
        _, werr = waiter.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        waiter.kill()
        fail("wait did not end when taskd stopped")
    check(waiter.returncode == 69 and ("taskd stopped before task" in werr
                                       or "cannot reach taskd" in werr),
          "wait across a shutdown: exit %d %r" % (waiter.returncode, werr))
    if "taskd stopped before task" not in werr:
        print("note: the wait had not registered before SIGTERM: %r" % werr.strip())
    check(lib.daemon.wait(timeout=15) == 0, "taskd exit code on SIGTERM")
    r = tc("list")
    check(r.returncode == 69, "unreachable daemon: exit %d" % r.returncode)
    check(len(r.stderr.strip().splitlines()) == 1 and "cannot reach taskd" in r.stderr
          and "Start it with `taskd`" in r.stderr, "unreachable message %r" % r.stderr)
    ok("--help lists exit codes; unreachable daemon: one line, exit 69")


lib.run("shutdown", body)
