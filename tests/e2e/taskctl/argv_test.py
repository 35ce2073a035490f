#!/usr/bin/env python3
"""taskctl submit: the command after repeatable flags, with and without --;
unknown options exit 2; get shows name and argv; a relative --cwd is the
caller's."""
import os
import re
import subprocess

import taskctl_lib as lib
from taskctl_lib import ENV, TASKCTL, WORK, check, ok, submit, tc, tc_ok


def body():
    a1 = submit("--label", "argv=1", "--env", "X=1", "--", "sh", "-c", "echo $X-ok")
    a2 = submit("--after", a1, "echo", "no", "dashes")
    a3 = submit("--label", "argv=1", "ls", "-d", "/")
    for t_id, want in ((a1, "1-ok\n"), (a2, "no dashes\n"), (a3, "/\n")):
        check(tc("wait", t_id).returncode == 0, "argv task %s" % t_id)
        check(tc_ok("logs", t_id) == want, "argv task output %r" % tc_ok("logs", t_id))
    r = tc("submit", "--bogus", "true")
    check(r.returncode == 2 and "--bogus" in r.stderr, "unknown submit option: %r" % r.stderr)
    r = tc("get", "--bogus", a1)
    check(r.returncode == 2 and "--bogus" in r.stderr, "unknown get option: %r" % r.stderr)
    named = submit("--name", "build-a", "--", "sh", "-c", "exit 0")
    detail = tc_ok("get", named)
    check(re.search(r"^name:\s+build-a$", detail, re.M)
          and re.search(r"^command:\s+sh -c exit 0$", detail, re.M), "get name/command: " + detail)
    os.makedirs(os.path.join(WORK, "wd"), exist_ok=True)
    rel = subprocess.run([TASKCTL, "submit", "-q", "--wait", "--cwd", "wd", "--", "pwd"],
                         capture_output=True, text=True, env=ENV, cwd=WORK, timeout=30)
    check(rel.returncode == 0, "relative --cwd: %s" % rel.stderr)
    check(tc_ok("logs", rel.stdout.strip()) == os.path.join(WORK, "wd") + "\n",
          "relative --cwd ran in %r" % tc_ok("logs", rel.stdout.strip()))
    ok("submit: the command after repeatable flags, with and without --; unknown options exit 2; "
       "get shows name and argv; a relative --cwd is the caller's")


lib.run("argv", body)
