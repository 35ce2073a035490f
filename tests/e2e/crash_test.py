#!/usr/bin/python3
"""Crash test: no acknowledged task is ever lost, nothing is left running.

Each cycle: start taskd; clients on several threads submit tasks (some run
for long, some leave a grandchild, some escape into their own session) and
record every id taskd acknowledged; kill -9 taskd at a random moment;
check the database with PRAGMA integrity_check; restart. After the restart:
every acknowledged id exists, no task is RUNNING from before the restart,
and no process started by the previous daemon's tasks is alive.

usage: crash_test.py TASKD PROTO_DIR GRPC_PROTO_DIR [--cycles N] [--seed S]
(CI runs 20 cycles; --cycles 1000 for a long run.)
"""

import os
import random
import shutil
import signal
import sqlite3
import tempfile
import threading
import time
import uuid

import taskd_stubs
from taskd_stubs import fail

# The task mix: a long sleeper, one that leaves a grandchild in its group,
# one whose grandchild escapes into a new session, and a quick one.
COMMANDS = [
    ["sleep", "30"],
    ["sh", "-c", "sleep 30 & sleep 30"],
    ["sh", "-c", "setsid sleep 30 & sleep 30"],
    ["true"],
]


def proc_env(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            return dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
    except OSError:
        return None


def start_ticks(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def task_processes(instance):
    """(pid, start ticks) of live processes of this data dir's tasks."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        env = proc_env(int(name))
        if env and env.get(b"TASKD_INSTANCE") == instance.encode():
            ticks = start_ticks(int(name))
            if ticks is not None:
                out.append((int(name), ticks))
    return out


def main():
    ap = taskd_stubs.arg_parser()
    ap.add_argument("--cycles", type=int, default=20)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--threads", type=int, default=4)
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    print("crash test: %d cycles, seed %d" % (args.cycles, seed))

    work = tempfile.mkdtemp(prefix="taskd-crash-")
    os.chmod(work, 0o700)
    data = os.path.join(work, "data")
    sock = os.path.join(work, "run", "taskd.sock")
    log = os.path.join(work, "taskd.log")
    instance = os.path.join(data, "logs")
    daemon = None
    try:
        taskd_stubs.generate(work, args.proto_dir, args.grpc_proto_dir)
        import grpc
        from taskd.v1 import taskd_pb2 as pb
        from taskd.v1 import taskd_pb2_grpc as pb_grpc

        acked = set()
        total_submits = 0
        restarted_at = 0.0  # wall time of the last kill
        for cycle in range(args.cycles + 1):
            daemon, channel = taskd_stubs.start_taskd(
                args.taskd, ["--data-dir", data, "--socket", sock, "--max-running", "4",
                             "--log-format", "json"], sock, log)
            started = start_ticks(daemon.pid)
            stub = pb_grpc.TaskServiceStub(channel)

            # Every acknowledged id is there, and nothing runs from before.
            seen, running_old = set(), []
            token = ""
            while True:
                page = stub.ListTasks(pb.ListTasksRequest(page_size=1000, page_token=token),
                                      timeout=30)
                for t in page.tasks:
                    seen.add(t.id)
                    if (t.state == pb.TASK_STATE_RUNNING and
                            t.start_time.ToNanoseconds() / 1e9 < restarted_at):
                        running_old.append(t.id)
                token = page.next_page_token
                if not token:
                    break
            lost = acked - seen
            if lost:
                fail("cycle %d: %d acknowledged tasks are missing, e.g. %s"
                     % (cycle, len(lost), sorted(lost)[:5]), log)
            if running_old:
                fail("cycle %d: tasks still RUNNING from before the restart: %s"
                     % (cycle, running_old[:5]), log)
            leftovers = [p for p, ticks in task_processes(instance) if ticks < started]
            if leftovers:
                fail("cycle %d: processes of the previous daemon's tasks alive: %s"
                     % (cycle, leftovers), log)
            if cycle == args.cycles:
                break

            # Submit from several threads until the kill.
            stop = threading.Event()
            lock = threading.Lock()
            counts = [0]

            def submit(tid):
                r = random.Random(seed * 1000 + cycle * 16 + tid)
                while not stop.is_set():
                    spec = pb.TaskSpec(name="crash-%d" % cycle)
                    spec.exec.argv.extend(r.choice(COMMANDS))
                    spec.kill_grace.FromSeconds(1)
                    try:
                        t = stub.SubmitTask(pb.SubmitTaskRequest(
                            spec=spec, request_id=str(uuid.uuid4())), timeout=5)
                    except grpc.RpcError:
                        return  # the daemon is gone
                    with lock:
                        acked.add(t.id)
                        counts[0] += 1

            threads = [threading.Thread(target=submit, args=(i,)) for i in range(args.threads)]
            for th in threads:
                th.start()
            time.sleep(rng.uniform(0.05, 0.6))
            daemon.send_signal(signal.SIGKILL)
            daemon.wait()
            stop.set()
            for th in threads:
                th.join(timeout=30)
            channel.close()
            total_submits += counts[0]

            db = sqlite3.connect("file:%s?mode=ro" % os.path.join(data, "taskd.db"), uri=True)
            check = db.execute("PRAGMA integrity_check").fetchone()[0]
            db.close()
            if check != "ok":
                fail("cycle %d: integrity_check says %s" % (cycle, check), log)
            restarted_at = time.time()
            if (cycle + 1) % 10 == 0:
                print("cycle %d: %d tasks acknowledged so far" % (cycle + 1, len(acked)))
        print("ok: %d cycles, %d tasks acknowledged, none lost, nothing left running"
              % (args.cycles, len(acked)))
        daemon.send_signal(signal.SIGTERM)
        if daemon.wait(timeout=15) != 0:
            fail("taskd did not stop cleanly at the end", log)
    finally:
        if daemon and daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        # Whatever the test's tasks left (on failure) goes too.
        for pid, _ in task_processes(instance):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
