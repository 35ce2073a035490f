#!/usr/bin/python3
"""Soak: a steady mixed load on a real taskd, with its RSS, open descriptors
and threads sampled along the way.

Load: SUBMITS exec tasks a second (each prints a line, sleeps 0.1 s and is
deleted 20 s after it ends), 10 `logs -f` followers of recent tasks, 10
watchers of every event and one slow watcher reading one event a second.
RSS growth is measured from the first sample after the warm-up; threads must
stay flat (within 5) under load, and descriptors come back within 5 of idle
once the clients are gone.

usage: soak.py TASKD PROTO_DIR GRPC_PROTO_DIR [--minutes M] [--submits N] [--store S]
              [--slow-watchers K]
(./dev test under CI=true runs 3 minutes; an hour by hand: --minutes 60.)
"""

import os
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import taskd_stubs  # noqa: E402
from taskd_stubs import fail  # noqa: E402


def sample(pid):
    with open("/proc/%d/status" % pid) as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    rss_kb = int(fields["VmRSS"].split()[0])
    threads = int(fields["Threads"])
    fds = len(os.listdir("/proc/%d/fd" % pid))
    return rss_kb, fds, threads


def main():
    ap = taskd_stubs.arg_parser()
    ap.add_argument("--minutes", type=float, default=5)
    ap.add_argument("--submits", type=int, default=50)
    ap.add_argument("--store", default="sqlite", choices=["sqlite", "memory"])
    ap.add_argument("--slow-watchers", type=int, default=1)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="taskd-soak-")
    os.chmod(work, 0o700)
    stop = threading.Event()
    try:
        taskd_stubs.generate(work, a.proto_dir, a.grpc_proto_dir)
        import grpc
        from taskd.v1 import taskd_pb2 as pb, taskd_pb2_grpc as rpc
        sock = os.path.join(work, "run", "taskd.sock")
        log = os.path.join(work, "taskd.log")
        proc, channel = taskd_stubs.start_taskd(
            a.taskd, ["--data-dir", os.path.join(work, "data"), "--socket", sock,
                      "--max-running", "16", "--log-level", "warn",
                      "--store", a.store], sock, log)
        stub = rpc.TaskServiceStub(channel)
        idle = sample(proc.pid)
        recent, errors, counts = [], [], {"submitted": 0, "events": 0, "log_bytes": 0}
        behind = []  # when a watcher was ended for falling behind (s into the run)
        start = time.monotonic()
        lock = threading.Lock()

        def submitter():
            period = 1.0 / a.submits
            next_at = time.monotonic()
            while not stop.is_set():
                spec = pb.TaskSpec()
                spec.exec.argv.extend(["sh", "-c", "echo soak line $TASKD_TASK_ID; sleep 0.1"])
                spec.ttl.seconds = 20
                try:
                    t = stub.SubmitTask(pb.SubmitTaskRequest(spec=spec, request_id=str(uuid.uuid4())),
                                        timeout=30)
                    with lock:
                        recent.append(t.id)
                        del recent[:-200]
                        counts["submitted"] += 1
                except grpc.RpcError as e:
                    errors.append("submit: %s" % e.code())
                next_at += period
                time.sleep(max(0.0, next_at - time.monotonic()))

        def follower():
            ch = grpc.insecure_channel("unix:" + sock)
            s = rpc.TaskServiceStub(ch)
            while not stop.is_set():
                with lock:
                    tid = random.choice(recent) if recent else None
                if tid is None:
                    time.sleep(0.1)
                    continue
                try:
                    for chunk in s.ReadTaskLogs(pb.ReadTaskLogsRequest(id=tid, follow=True), timeout=30):
                        with lock:
                            counts["log_bytes"] += len(chunk.data)
                except grpc.RpcError as e:
                    if e.code() != grpc.StatusCode.NOT_FOUND:  # deleted by its TTL meanwhile
                        errors.append("logs: %s" % e.code())
            ch.close()

        def watcher(slow):
            # gRPC Python shares one HTTP/2 connection among channels with the
            # same target and options. On that shared, busy connection BDP
            # probing grows the flow-control window until the slow watcher's
            # client buffers tens of thousands of events (several MB) before
            # taskd's per-watcher bound is ever reached; the slow watcher
            # would then be ended only after hours. Its own connection, with a
            # small fixed window, makes it a reader that is really behind.
            opts = [("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 4096)] if slow else []
            ch = grpc.insecure_channel("unix:" + sock, options=opts)
            s = rpc.TaskServiceStub(ch)
            while not stop.is_set():
                call = s.WatchTasks(pb.WatchTasksRequest())
                try:
                    for _ in call:
                        with lock:
                            counts["events"] += 1
                        if stop.is_set():
                            break
                        if slow:
                            time.sleep(1)
                except grpc.RpcError as e:
                    # A watcher that falls too far behind is ended; it watches again.
                    if e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                        with lock:
                            behind.append(time.monotonic() - start)
                    elif e.code() != grpc.StatusCode.CANCELLED:
                        errors.append("watch: %s" % e.code())
                call.cancel()
            ch.close()

        threads = [threading.Thread(target=submitter)]
        threads += [threading.Thread(target=follower) for _ in range(10)]
        threads += [threading.Thread(target=watcher, args=(False,)) for _ in range(10)]
        threads += [threading.Thread(target=watcher, args=(True,)) for _ in range(a.slow_watchers)]
        for t in threads:
            t.daemon = True
            t.start()

        total = a.minutes * 60
        warmup = min(60.0, total / 5)
        interval = 60.0 if total >= 600 else max(5.0, total / 10)
        samples = []
        print("idle: rss %d KiB, %d fds, %d threads" % idle)
        next_sample = start + warmup
        while time.monotonic() - start < total:
            if proc.poll() is not None:
                fail("taskd exited with %s during the soak" % proc.returncode, log)
            if time.monotonic() >= next_sample:
                s = sample(proc.pid)
                samples.append(s)
                with lock:
                    c = dict(counts)
                print("t=%4.0fs rss %d KiB  fds %d  threads %d  submitted %d  events %d  log bytes %d"
                      % ((time.monotonic() - start,) + s + (c["submitted"], c["events"], c["log_bytes"])),
                      flush=True)
                next_sample += interval
            time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(timeout=40)
        time.sleep(2)
        after = sample(proc.pid)
        growth = 100.0 * (samples[-1][0] - samples[0][0]) / samples[0][0]
        print("rss_growth_after_warmup %.1f%%  (target < 5%%)" % growth)
        print("after the clients left: rss %d KiB, %d fds (idle %d), %d threads (idle %d)"
              % (after[0], after[1], idle[1], after[2], idle[2]))
        print("submitted %d; errors %d %s" % (counts["submitted"], len(errors), sorted(set(errors))[:5]))
        # taskd ends a watcher whose bounded queue has filled; the memory that
        # queue held is in the figures above from the first such end on.
        print("watchers ended for falling behind: %d%s"
              % (len(behind), " (first at %.0f s)" % behind[0] if behind else ""))
        proc.terminate()
        proc.wait(timeout=30)
        # Flat under load: against the first sample after the warm-up (gRPC
        # grows its thread pool once clients connect); descriptors back to idle.
        drift = max(abs(s[2] - samples[0][2]) for s in samples)
        print("threads drift under load %d (target within 5)" % drift)
        if abs(after[1] - idle[1]) > 5 or drift > 5:
            fail("descriptors did not come back to idle, or threads grew under load", log)
        if errors:
            fail("%d calls failed" % len(errors), log)
    finally:
        stop.set()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
