#!/usr/bin/python3
"""Short exec tasks after a restart: none that exited 0 may be recorded FAILED.

Submits N `sleep S` tasks in batches to a real taskd, kills it with SIGKILL
(so the whole backlog waits for the next start), starts it again and waits
until every task has ended; then counts the outcomes. A task that exited 0
but is recorded FAILED with no exit code (the early pidfd wake-up of fault 1)
is counted as `false_failures`; the run exits 1 when there is any.

usage: short_tasks.py TASKD PROTO_DIR GRPC_PROTO_DIR [--tasks N] [--sleep S]
                      [--max-running M]
(by hand: --tasks 20000; the defaults are small.)
"""

import os
import shutil
import signal
import tempfile
import time
import uuid

import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import taskd_stubs  # noqa: E402
from taskd_stubs import fail  # noqa: E402


def main():
    ap = taskd_stubs.arg_parser()
    ap.add_argument("--tasks", type=int, default=2000)
    ap.add_argument("--sleep", default="0.2")
    ap.add_argument("--max-running", type=int, default=64)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="taskd-short-")
    os.chmod(work, 0o700)
    try:
        taskd_stubs.generate(work, a.proto_dir, a.grpc_proto_dir)
        from taskd.v1 import taskd_pb2 as pb, taskd_pb2_grpc as rpc
        sock = os.path.join(work, "run", "taskd.sock")
        log = os.path.join(work, "taskd.log")
        args = ["--data-dir", os.path.join(work, "data"), "--socket", sock,
                "--max-running", str(a.max_running), "--max-pending", str(a.tasks + 10),
                "--log-level", "warn"]
        proc, channel = taskd_stubs.start_taskd(a.taskd, args, sock, log)
        stub = rpc.TaskServiceStub(channel)
        ids = []
        t0 = time.monotonic()
        for start in range(0, a.tasks, 1000):
            req = pb.BatchSubmitTasksRequest()
            for _ in range(min(1000, a.tasks - start)):
                r = req.requests.add()
                r.request_id = str(uuid.uuid4())
                r.spec.exec.argv.extend(["sleep", a.sleep])
            ids += [t.id for t in stub.BatchSubmitTasks(req, timeout=60).tasks]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        channel.close()
        print("submitted %d tasks in %.1f s; taskd killed with SIGKILL" % (len(ids), time.monotonic() - t0))

        proc, channel = taskd_stubs.start_taskd(a.taskd, args, sock, log)
        stub = rpc.TaskServiceStub(channel)
        t1 = time.monotonic()
        deadline = t1 + 600
        counts = {}
        while True:
            counts, false_failures, unfinished = {}, 0, 0
            page = ""
            while True:
                resp = stub.ListTasks(pb.ListTasksRequest(page_size=1000, page_token=page), timeout=60)
                for t in resp.tasks:
                    name = pb.TaskState.Name(t.state)
                    if t.state == pb.TASK_STATE_FAILED:
                        name += "/" + pb.TaskReason.Name(t.reason)
                    counts[name] = counts.get(name, 0) + 1
                    if t.state in (pb.TASK_STATE_PENDING, pb.TASK_STATE_RUNNING):
                        unfinished += 1
                    if (t.state == pb.TASK_STATE_FAILED and t.reason == pb.TASK_REASON_EXIT_CODE
                            and not t.result.HasField("exit_code")):
                        false_failures += 1
                page = resp.next_page_token
                if not page:
                    break
            if unfinished == 0 or time.monotonic() > deadline:
                break
            time.sleep(1)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        # The attempts running when taskd was killed end FAILED/INTERRUPTED.
        print("after the restart: %s in %.1f s" % (counts, time.monotonic() - t1))
        print("false_failures %d  (FAILED EXIT_CODE without an exit code; target 0)" % false_failures)
        if unfinished:
            fail("%d tasks did not end within 600 s" % unfinished, log)
        if false_failures:
            fail("%d tasks that ran were recorded FAILED with no exit code" % false_failures, log)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
