#!/usr/bin/python3
"""Disk full: taskd's data directory on a small tmpfs that the test fills.

While the disk is full, SubmitTask answers RESOURCE_EXHAUSTED, and Get,
List, Wait and Cancel go on, as do running tasks. Once space returns,
submits work again without a restart, and the state changes that failed to
be written while full (a cancel) are written then: a restart shows them.

Needs root to mount the tmpfs; exits 77 (skipped) saying why otherwise.
usage: disk_full_test.py TASKD PROTO_DIR GRPC_PROTO_DIR
"""

import errno
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import taskd_stubs
from taskd_stubs import fail

SKIP = 77


def main():
    taskd, proto_dir, grpc_proto_dir = sys.argv[1:4]
    if os.geteuid() != 0:
        print("SKIP: mounting a small tmpfs needs root")
        sys.exit(SKIP)
    work = tempfile.mkdtemp(prefix="taskd-full-")
    os.chmod(work, 0o700)
    mnt = os.path.join(work, "mnt")
    os.makedirs(mnt)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", mnt],
                       capture_output=True, text=True)
    if r.returncode != 0:
        shutil.rmtree(work, ignore_errors=True)
        print("SKIP: cannot mount a tmpfs here: " + r.stderr.strip())
        sys.exit(SKIP)
    daemon = None
    log = os.path.join(work, "taskd.log")
    sock = os.path.join(work, "run", "taskd.sock")
    data = os.path.join(mnt, "data")

    def start():
        d, ch = taskd_stubs.start_taskd(taskd, ["--data-dir", data, "--socket", sock], sock, log)
        return d, ch, pb_grpc.TaskServiceStub(ch)

    try:
        taskd_stubs.generate(work, proto_dir, grpc_proto_dir)
        import grpc
        from taskd.v1 import taskd_pb2 as pb
        from taskd.v1 import taskd_pb2_grpc as pb_grpc

        daemon, channel, stub = start()
        spec = pb.TaskSpec(name="runs-through")
        spec.exec.argv.extend(["sh", "-c", "sleep 60"])
        running = stub.SubmitTask(pb.SubmitTaskRequest(spec=spec), timeout=10)
        short = pb.WaitTaskRequest(id=running.id)
        short.timeout.FromMilliseconds(300)
        if stub.WaitTask(short, timeout=10).state != pb.TASK_STATE_RUNNING:
            fail("the task did not start", log)

        # Fill the filesystem.
        filler = os.path.join(mnt, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 65536)
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
        finally:
            os.close(fd)
        big = pb.TaskSpec(name="big")
        big.handler.name = "noop"
        big.handler.payload = '"%s"' % ("x" * 200_000)
        refused = None
        for _ in range(50):
            try:
                stub.SubmitTask(pb.SubmitTaskRequest(spec=big), timeout=10)
            except grpc.RpcError as e:
                refused = e
                break
        if refused is None:
            fail("50 submits of 200 KB succeeded on a full disk", log)
        if refused.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
            fail("a submit on a full disk got %s: %s" % (refused.code(), refused.details()), log)
        print("ok: full disk: SubmitTask -> RESOURCE_EXHAUSTED (%s)" % refused.details())

        # Reads, waits and cancels go on.
        if stub.GetTask(pb.GetTaskRequest(id=running.id), timeout=10).state != pb.TASK_STATE_RUNNING:
            fail("the running task stopped on a full disk", log)
        if not stub.ListTasks(pb.ListTasksRequest(), timeout=10).tasks:
            fail("ListTasks is empty on a full disk", log)
        if stub.WaitTask(short, timeout=10).state != pb.TASK_STATE_RUNNING:
            fail("WaitTask failed on a full disk", log)
        cancelled = stub.CancelTask(pb.CancelTaskRequest(id=running.id), timeout=30)
        if cancelled.state != pb.TASK_STATE_CANCELLED:
            fail("CancelTask on a full disk: " + str(cancelled), log)
        print("ok: full disk: Get, List, Wait and Cancel go on")

        # Space returns: submits work again, without a restart.
        os.remove(filler)
        ok = None
        deadline = time.monotonic() + 10
        while ok is None and time.monotonic() < deadline:
            try:
                ok = stub.SubmitTask(pb.SubmitTaskRequest(spec=big), timeout=10)
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                    fail("submit after freeing space: %s %s" % (e.code(), e.details()), log)
                time.sleep(0.1)
        if ok is None:
            fail("submits still refused 10 s after space returned", log)
        print("ok: space back: SubmitTask accepted again without a restart")

        # The cancel that could not be written while full was written since.
        time.sleep(1.5)  # the failed-write retry runs every second
        daemon.send_signal(signal.SIGTERM)
        if daemon.wait(timeout=15) != 0:
            fail("taskd did not stop cleanly", log)
        channel.close()
        daemon, channel, stub = start()
        again = stub.GetTask(pb.GetTaskRequest(id=running.id), timeout=10)
        if again.state != pb.TASK_STATE_CANCELLED:
            fail("after a restart the cancelled task is %s" % pb.TaskState.Name(again.state), log)
        stub.GetTask(pb.GetTaskRequest(id=ok.id), timeout=10)
        print("ok: after a restart the cancel made while the disk was full is there")
        with open(log, encoding="utf-8", errors="replace") as f:
            text = f.read()
        if running.id + ": change not persisted" in text:
            print("ok: the cancel's write failed on the full disk and was retried")
        else:
            print("note: the cancel's write fit in space SQLite already had; "
                  "the retry path was not needed this run")
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=15)
    finally:
        if daemon and daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        subprocess.run(["umount", "-l", mnt])
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
