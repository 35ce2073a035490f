#!/usr/bin/env python3
"""End-to-end test of every taskctl subcommand against a real taskd.

usage: taskctl_test.py TASKD TASKCTL

Checks output formats field by field (json, jsonl, yaml, table, wide), each
exit code of `wait` and `submit --wait` (task's own, 0, 1, 124), usage errors
(2) and an unreachable daemon (69), `logs -f` of a task printing for 2 s,
`progress` from inside a task, the progress line on a terminal and none on a
pipe, NO_COLOR, `top` under tmux showing a progress bar, `list --watch`, and
the bash completion script. Every wait is bounded.
"""
import json
import os
import pty
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import yaml

import taskd_stubs

TASKD, TASKCTL = sys.argv[1], sys.argv[2]
WORK = tempfile.mkdtemp(prefix="taskctl-e2e-")
RUN = os.path.join(WORK, "run")
SOCK = os.path.join(RUN, "taskd.sock")
LOG = os.path.join(WORK, "taskd.log")
ENV = dict(os.environ, TASKD_SOCKET=SOCK)
ENV.pop("TASKD_ADDR", None)
ENV.pop("NO_COLOR", None)
ENV["TERM"] = "xterm"  # colour is expected on a terminal
passed = 0
daemon = None


def fail(msg):
    taskd_stubs.fail(msg, LOG)  # with the end of taskd's log


def check(cond, msg):
    if not cond:
        fail(msg)


def ok(name):
    global passed
    passed += 1
    print("ok: " + name)


def tc(*args, env=None, timeout=30, stdin=None):
    """Runs taskctl; returns CompletedProcess (text)."""
    try:
        return subprocess.run([TASKCTL] + list(args), capture_output=True, text=True,
                              env=env or ENV, timeout=timeout, stdin=stdin)
    except subprocess.TimeoutExpired:
        fail("taskctl %s did not finish within %d s" % (" ".join(args), timeout))


def tc_ok(*args, **kw):
    r = tc(*args, **kw)
    check(r.returncode == 0, "taskctl %s: exit %d\n%s%s" % (" ".join(args), r.returncode,
                                                            r.stdout, r.stderr))
    return r.stdout


def until(pred, what, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    fail("timed out waiting for " + what)


def start_daemon():
    global daemon
    os.makedirs(RUN, mode=0o700, exist_ok=True)
    with open(LOG, "a") as logf:
        daemon = subprocess.Popen([TASKD, "--data-dir", os.path.join(WORK, "data")],
                                  stdout=logf, stderr=logf, env=ENV)
    until(lambda: tc("health").returncode == 0, "taskd to serve")


def submit(*args):
    return tc_ok("submit", "-q", *args).strip()


def on_pty(args, env=None, timeout=20):
    """Runs taskctl with stdout and stderr on one pseudo-terminal; returns
    (exit code, everything written)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([TASKCTL] + args, stdout=slave, stderr=slave, stdin=subprocess.DEVNULL,
                         env=env or ENV)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    while True:
        if time.monotonic() > deadline:
            p.kill()
            fail("taskctl %s on a terminal did not finish" % args)
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return p.wait(timeout=5), out.decode("utf-8", "replace")


try:
    start_daemon()

    # ---- submit, get -o json field by field --------------------------------
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

    # ---- the command after options: repeatable flags never swallow it --------
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

    # ---- wait and submit --wait exit codes ----------------------------------
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

    # ---- usage errors and unknown ids --------------------------------------
    for args, needle in ((["submit", "--timeout", "soon", "--", "true"], "--timeout"),
                         (["submit"], "command"), (["frobnicate"], ""),
                         (["list", "--state", "sleeping"], "--state"),
                         (["list", "-o", "xml"], "xml"), (["completion", "fish"], "fish")):
        r = tc(*args)
        check(r.returncode == 2, "%s: exit %d (usage error expected)" % (args, r.returncode))
        check(needle in r.stderr, "%s: message %r does not name %s" % (args, r.stderr, needle))
    r = tc("get", "00000000000ZZ")
    check(r.returncode == 1 and "not found" in r.stderr, "get unknown: %r" % r.stderr)
    ok("usage errors exit 2 naming the flag; unknown id exits 1")

    # ---- logs -f of a task printing over 2 s -------------------------------
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

    # ---- progress from inside a task ----------------------------------------
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

    # ---- the progress line: on a terminal, never on a pipe ------------------
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

    # ---- top under tmux -------------------------------------------------------
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

    # ---- list: filters, wide, -q, --watch -------------------------------------
    ids = tc_ok("list", "-q").split()
    check(tid in ids and pt in ids and ids == sorted(ids), "list -q: %s" % ids)
    check(tc_ok("ls", "-q", "--queue", "io").split() == [tid], "ls --queue io")
    states = [json.loads(l)["state"] for l in
              tc_ok("list", "-o", "jsonl", "--state", "failed").splitlines()]
    check(states and set(states) == {"TASK_STATE_FAILED"}, "list --state failed: %s" % states)
    check(tc_ok("list", "--limit", "2", "-q").split() == ids[:2], "list --limit 2")
    empty = tc_ok("list", "--queue", "nosuch")
    check(empty.splitlines() == ["ID            STATE       PROG     AGE NAME"],
          "empty list: %r" % empty)
    check(json.loads(tc_ok("list", "-o", "json", "--queue", "nosuch")) == {"tasks": []},
          "empty list -o json")
    check(yaml.safe_load(tc_ok("list", "-o", "yaml", "--queue", "nosuch")) == {"tasks": []},
          "empty list -o yaml")
    table = tc_ok("list").splitlines()
    check(table[0].split() == ["ID", "STATE", "PROG", "AGE", "NAME"], "table header " + table[0])
    check(max(len(l) for l in table) <= 80, "table wider than 80 columns")
    wide = tc_ok("list", "-o", "wide", "--queue", "io").splitlines()
    check("QUEUE" in wide[0] and "EXIT" in wide[0] and "team=infra" in wide[1]
          and " io " in wide[1], "wide: %s" % wide)
    y = yaml.safe_load(tc_ok("list", "-o", "yaml", "--queue", "io"))
    check([x["id"] for x in y["tasks"]] == [tid], "list -o yaml %s" % y)
    watch = subprocess.Popen([TASKCTL, "list", "--watch", "-o", "jsonl", "--label", "w=1"],
                             stdout=subprocess.PIPE, text=True, env=ENV)
    lines_q = queue.Queue()
    threading.Thread(target=lambda: [lines_q.put(l) for l in watch.stdout], daemon=True).start()
    # Marker tasks until one shows: then the watch is registered for sure.
    marked = None
    for _ in range(100):
        submit("--label", "w=1", "--label", "marker=1", "--", "true")
        try:
            marked = lines_q.get(timeout=0.2)
            break
        except queue.Empty:
            pass
    check(marked, "list --watch showed no change")
    time.sleep(0.5)  # let the markers' own events arrive; they are skipped below
    while not lines_q.empty():
        lines_q.get()
    wt = submit("--label", "w=1", "--", "true")
    seen = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            line = lines_q.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        ev = json.loads(line)
        if ev["spec"].get("labels", {}).get("marker"):
            continue
        check(ev["id"] == wt, "list --watch printed another task: %s" % ev["id"])
        seen.append(ev["state"])
        if ev["state"] == "TASK_STATE_COMPLETED":
            break
    watch.kill()
    watch.wait()
    check(seen and seen[-1] == "TASK_STATE_COMPLETED" and "TASK_STATE_PENDING" in seen,
          "list --watch states %s" % seen)
    try:
        subprocess.run([TASKCTL, "list", "--watch", "-o", "yaml", "--label", "w=1"],
                       capture_output=True, text=True, env=ENV, timeout=1.5)
        fail("list --watch ended by itself")
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
    docs = [d for d in yaml.safe_load_all(out) if d]
    check([d["id"] for d in docs if "marker" not in d["spec"]["labels"]] == [wt],
          "list --watch -o yaml documents: %r" % out)
    ok("list filters, --limit, 80-column table, wide, yaml, -q, --watch")

    # ---- submit with --after and --delay ----------------------------------------
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

    # ---- delete, version, health, completion -----------------------------------
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

    # ---- help documents the exit codes; an unreachable daemon -----------------
    h = tc_ok("--help")
    check("124" in h and "69" in h and "usage" in h, "--help lacks the exit codes")
    # A wait that taskd ends by stopping is not a timeout: exit 69, saying so.
    long_task = submit("--", "sleep", "60")
    until(lambda: "RUNNING" in tc_ok("get", long_task), "the long task to run")
    waiter = subprocess.Popen([TASKCTL, "wait", long_task], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=ENV)
    time.sleep(0.5)  # the wait registers (if not yet, taskctl says it cannot reach taskd)
    daemon.send_signal(signal.SIGTERM)
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
    check(daemon.wait(timeout=15) == 0, "taskd exit code on SIGTERM")
    r = tc("list")
    check(r.returncode == 69, "unreachable daemon: exit %d" % r.returncode)
    check(len(r.stderr.strip().splitlines()) == 1 and "cannot reach taskd" in r.stderr
          and "Start it with `taskd`" in r.stderr, "unreachable message %r" % r.stderr)
    ok("--help lists exit codes; unreachable daemon: one line, exit 69")
    print("taskctl e2e: %d passed, 0 failed" % passed)
finally:
    if daemon and daemon.poll() is None:
        daemon.kill()
        daemon.wait()
    shutil.rmtree(WORK, ignore_errors=True)
