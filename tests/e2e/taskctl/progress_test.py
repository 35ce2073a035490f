#!/usr/bin/env python3
"""taskctl progress from inside a task (TASKD_TASK_ID, TASKD_ADDR) shows in
get, -o json and list; the progress bar and colour on a terminal, none on a
pipe, NO_COLOR honoured; top under tmux shows the running task's bar and
quits on q; top on a pipe is a usage error."""
import json
import os
import re
import shutil
import subprocess

import taskctl_lib as lib
from taskctl_lib import ENV, SOCK, TASKCTL, WORK, check, ok, on_pty, submit, tc, tc_ok, until


def body():
    gate = os.path.join(WORK, "gate")
    pt = submit("--", "sh", "-c",
                '%s progress 42 "half way" && while [ ! -e %s ]; do sleep 0.05; done'
                % (TASKCTL, gate))
    shown = until(lambda: (lambda o: o if re.search(r"^progress:\s+42% half way$", o, re.M)
                           else None)(tc_ok("get", pt)), "progress 42% in get")
    check(re.search(r"^state:\s+RUNNING$", shown, re.M), "progress task: " + shown)
    pj = json.loads(tc_ok("get", "-o", "json", pt))
    check(pj["progress"]["percent"] == 42 and pj["progress"]["message"] == "half way",
          "progress json %s" % pj.get("progress"))
    row = [l for l in tc_ok("list").splitlines() if l.startswith(pt)]
    check(row and " 42% " in row[0], "list row %s" % row)
    r = tc("progress", "50")
    check(r.returncode == 2 and "TASKD_TASK_ID" in r.stderr, "progress outside a task: %r"
          % r.stderr)
    ok("progress inside a task (TASKD_TASK_ID, TASKD_ADDR) shows in get, -o json and list")

    # The progress line: on a terminal, never on a pipe.
    r = tc("wait", "--timeout", "1500ms", pt)
    check(r.returncode == 124 and r.stderr == "", "piped wait wrote to stderr: %r" % r.stderr)
    code, screen = on_pty(["wait", "--timeout", "1500ms", pt])
    check(code == 124, "wait on a terminal: exit %d" % code)
    bare = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)
    check(re.search(r"\[#{8}-{12}\]\s+42%", bare) and "half way" in bare,
          "no progress bar on the terminal: %r" % screen)
    check("\x1b[34m" in screen, "no colour on the terminal: %r" % screen)
    code, plain = on_pty(["wait", "--timeout", "500ms", pt], env=dict(ENV, NO_COLOR="1"))
    check(code == 124 and "42%" in plain and "\x1b[3" not in plain,
          "NO_COLOR: colour codes remain: %r" % plain)
    code, table = on_pty(["list", "--state", "running"])
    check(code == 0 and "\x1b[34mRUNNING" in table, "list on a terminal is not coloured")
    code, table = on_pty(["list", "--state", "running"], env=dict(ENV, NO_COLOR="1"))
    check(code == 0 and "\x1b[" not in table and "RUNNING" in table, "NO_COLOR list: %r" % table)
    ok("progress bar and colour on a terminal; none on a pipe; NO_COLOR honoured")

    # top under tmux.
    if shutil.which("tmux"):
        session = "taskctl-e2e-%d" % os.getpid()
        tmux_env = ["-e", "TASKD_SOCKET=" + SOCK]
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        r = subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "30"]
                           + tmux_env + [TASKCTL + " top; sleep 30"], capture_output=True,
                           text=True, env=ENV)
        check(r.returncode == 0, "tmux new-session: %s" % r.stderr)
        try:
            def top_screen():
                cap = subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                                     capture_output=True, text=True).stdout
                return cap if re.search(re.escape(pt) + r" RUNNING\s+\[#{8}-{12}\]\s+42%", cap) \
                    else None
            screen = until(top_screen, "top to show the running task's bar")
            check("taskd top" in screen and "half way" in screen, "top screen:\n" + screen)
            subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
            until(lambda: "taskd top" not in subprocess.run(
                ["tmux", "capture-pane", "-p", "-t", session], capture_output=True,
                text=True).stdout, "top to quit on q")
        finally:
            subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        ok("top under tmux shows the running task's progress bar; q quits")
    else:
        print("note: tmux not installed; top not checked (./dev deps test installs it)")
    r = tc("top")
    check(r.returncode == 2 and "terminal" in r.stderr, "top on a pipe: %r" % r.stderr)
    open(gate, "w").close()
    check(tc("wait", pt).returncode == 0, "gated progress task")


lib.run("progress", body)
