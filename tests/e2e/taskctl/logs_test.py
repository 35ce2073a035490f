#!/usr/bin/env python3
"""taskctl logs -f of a task printing over 2 s; --stderr, --all, --tail;
submit --follow."""
import time

import taskctl_lib as lib
from taskctl_lib import check, ok, submit, tc, tc_ok


def body():
    lf = submit("--", "sh", "-c", "for i in 1 2 3 4 5; do echo tick $i; sleep 0.5; done")
    started = time.monotonic()
    out = tc_ok("logs", "-f", lf)
    took = time.monotonic() - started
    check(out == "".join("tick %d\n" % i for i in range(1, 6)), "logs -f printed %r" % out)
    check(took >= 1.5, "logs -f returned after %.2f s, before the task ended" % took)
    check("COMPLETED" in tc_ok("get", lf), "logs -f returned before the task ended")
    both = submit("--", "sh", "-c", "echo out; echo err >&2")
    tc("wait", both)
    check(tc_ok("logs", "--stderr", both) == "err\n", "logs --stderr")
    r = tc("logs", "--all", both)
    check(r.stdout == "out\n" and r.stderr == "err\n", "logs --all: %r %r" % (r.stdout, r.stderr))
    check(tc_ok("logs", "--tail", "2", lf) == "5\n", "logs --tail 2")
    r = tc("submit", "--follow", "--", "sh", "-c", "echo followed; echo oops >&2; exit 4")
    check(r.returncode == 4, "submit --follow: exit %d" % r.returncode)
    check(r.stdout.splitlines()[1:] == ["followed"] and r.stderr == "oops\n",
          "submit --follow output %r %r" % (r.stdout, r.stderr))
    ok("logs -f over %.1f s; --stderr, --all, --tail; submit --follow" % took)


lib.run("logs", body)
