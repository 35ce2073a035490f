"""Shared set-up for the taskctl end-to-end scenarios (tests/e2e/taskctl/*_test.py).

Each scenario is its own script and its own ctest (e2e.taskctl.NAME), run as

    NAME_test.py TASKD TASKCTL

and gets a fresh taskd in a temporary directory, so one failing scenario does
not hide the others. Every wait is bounded.
"""
import os
import pty
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import taskd_stubs  # noqa: E402  (tests/e2e/taskd_stubs.py)

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
daemon = None  # the taskd process of this scenario


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


def run(scenario, body):
    """Starts taskd, runs BODY(), prints the count; always stops taskd and
    removes the work directory."""
    try:
        start_daemon()
        body()
        print("taskctl e2e %s: %d passed, 0 failed" % (scenario, passed))
    finally:
        if daemon and daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        shutil.rmtree(WORK, ignore_errors=True)
