#!/usr/bin/env python3
"""An I/O error on commit: taskd logs it, exits non-zero (75), and the next
start recovers every acknowledged task.

The error is injected with an LD_PRELOAD shim (eio_shim.cc): once the
trigger file exists, fsync/fdatasync of taskd's database fail with EIO, as
on a dying disk. The shim is only a test device; taskd is the real binary.

usage: io_error_test.py TASKD TASKCTL EIO_SHIM
"""
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

import taskd_stubs

TASKD, TASKCTL, SHIM = sys.argv[1:4]
WORK = tempfile.mkdtemp(prefix="taskd-eio-")
RUN = os.path.join(WORK, "run")
SOCK = os.path.join(RUN, "taskd.sock")
DATA = os.path.join(WORK, "data")
LOG = os.path.join(WORK, "taskd.log")
TRIGGER = os.path.join(WORK, "fail-fsync-now")
ENV = dict(os.environ, TASKD_SOCKET=SOCK)
ENV.pop("TASKD_ADDR", None)


def fail(msg):
    taskd_stubs.fail(msg, LOG)  # with the end of taskd's log


def tc(*args, timeout=30):
    return subprocess.run([TASKCTL] + list(args), capture_output=True, text=True, env=ENV,
                          timeout=timeout)


def start(env):
    os.makedirs(RUN, mode=0o700, exist_ok=True)
    with open(LOG, "a") as logf:
        p = subprocess.Popen([TASKD, "--data-dir", DATA], stdout=logf, stderr=logf, env=env)
    deadline = time.monotonic() + 20
    while tc("health").returncode != 0:
        if p.poll() is not None or time.monotonic() > deadline:
            fail("taskd did not start (exit %s)" % p.poll())
        time.sleep(0.05)
    return p


daemon = None
try:
    daemon = start(dict(ENV, LD_PRELOAD=SHIM, TASKD_TEST_EIO_TRIGGER=TRIGGER))
    acked = []
    for i in range(5):
        r = tc("submit", "-q", "--name", "acked-%d" % i, "--", "true")
        if r.returncode != 0:
            fail("submit before the fault: %s" % r.stderr)
        acked.append(r.stdout.strip())
    for tid in acked:
        tc("wait", tid)
    # A wait is answered before the final state's commit; the writer commits
    # in order, so one more acknowledged submit proves those are on disk.
    r = tc("submit", "-q", "--handler", "noop")
    if r.returncode != 0:
        fail("submit before the fault: %s" % r.stderr)

    open(TRIGGER, "w").close()  # from now on the disk "fails"
    r = tc("submit", "-q", "--name", "during-fault", "--", "true")
    if r.returncode == 0:
        fail("a submit was acknowledged although its commit cannot be durable: %s" % r.stdout)
    try:
        code = daemon.wait(timeout=15)
    except subprocess.TimeoutExpired:
        fail("taskd kept running after an I/O error on commit")
    if code != 75:
        fail("taskd exited %d after an I/O error, not 75" % code)
    with open(LOG) as f:
        log = f.read()
    if "cannot write" not in log or "critical" not in log:
        fail("no critical log line naming the failed write")
    print("ok: I/O error on commit: the submit was not acknowledged (taskctl exit %d), taskd "
          "exited 75 with a critical log line" % r.returncode)

    os.unlink(TRIGGER)
    # Read-only: a read-write close would checkpoint the WAL, and the restart
    # below must recover from the files exactly as the failed taskd left them.
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(DATA, "taskd.db"), uri=True)
    check = db.execute("PRAGMA integrity_check").fetchone()[0]
    db.close()
    if check != "ok":
        fail("integrity_check after the crash: %s" % check)
    daemon = start(ENV)
    for tid in acked:
        r = tc("get", "-o", "json", tid)
        if r.returncode != 0:
            fail("acknowledged task %s lost after the I/O error: %s" % (tid, r.stderr))
        if json.loads(r.stdout)["state"] != "TASK_STATE_COMPLETED":
            fail("task %s: %s" % (tid, r.stdout))
    r = tc("submit", "-q", "--wait", "--", "true")
    if r.returncode != 0:
        fail("submit after recovery: %s" % r.stderr)
    print("ok: next start recovered: integrity_check ok, %d acknowledged tasks there, submits work"
          % len(acked))
    print("io_error: 1 passed, 0 failed")
finally:
    if daemon and daemon.poll() is None:
        daemon.kill()
        daemon.wait()
    shutil.rmtree(WORK, ignore_errors=True)
