#!/usr/bin/env python3
"""taskctl delete (the task and its logs), version, health, and the bash
(exercised) and zsh completion scripts."""
import os
import shutil
import subprocess

import taskctl_lib as lib
from taskctl_lib import ENV, TASKCTL, check, ok, submit, tc, tc_ok


def body():
    tid = submit("--", "echo", "hello")
    check(tc("wait", tid).returncode == 0, "the task to delete")
    check(tc_ok("logs", tid) == "hello\n", "its logs before delete")
    sleeper = submit("--", "sleep", "30")
    tc_ok("cancel", sleeper)
    first = submit("--", "true")
    r = tc("delete", sleeper, tid)
    check(r.returncode == 0, "delete: %s" % r.stderr)
    check(tc("get", tid).returncode == 1, "deleted task still there")
    check(tc("logs", tid).returncode == 1, "deleted task's logs still there")
    v = tc_ok("version").splitlines()
    check(v[0].startswith("taskctl ") and v[1].startswith("taskd ") and "sqlite" in v[1],
          "version: %s" % v)
    check(tc_ok("health") == "SERVING\n", "health")
    script = tc_ok("completion", "bash")
    probe = ('source /dev/stdin; COMP_WORDS=(taskctl su); COMP_CWORD=1; _taskctl; '
             'echo "${COMPREPLY[*]}"; COMP_WORDS=(taskctl list --state c); COMP_CWORD=3; '
             '_taskctl; echo "${COMPREPLY[*]}"; COMP_WORDS=(taskctl get ""); COMP_CWORD=2; '
             '_taskctl; echo "${COMPREPLY[*]}"')
    bash_env = dict(ENV, PATH=os.path.dirname(os.path.abspath(TASKCTL)) + ":" + ENV["PATH"])
    r = subprocess.run(["bash", "-c", probe], input=script, capture_output=True, text=True,
                       env=bash_env, timeout=30)
    got = r.stdout.splitlines()
    check(len(got) == 3 and got[0] == "submit" and got[1] == "completed cancelled"
          and first in got[2].split(), "bash completion: %r %r" % (got, r.stderr))
    zsh = tc_ok("completion", "zsh")
    check(zsh.startswith("#compdef taskctl"), "zsh completion header")
    if shutil.which("zsh"):
        r = subprocess.run(["zsh", "-n"], input=zsh, capture_output=True, text=True)
        check(r.returncode == 0, "zsh -n: %s" % r.stderr)
    ok("delete, version, health, completion bash (exercised) and zsh")


lib.run("admin", body)
