#!/usr/bin/python3
"""End-to-end: a client in another language against the real taskd.

Debian's python3-grpcio, with stubs generated from proto/ at test time by
protoc and grpc_python_plugin, drives a real taskd over its unix socket:
submit, wait, list and read logs; list the service through server
reflection and check health; and SIGTERM during 100 in-flight WaitTask
calls, after which taskd exits 0 within 10 s and every caller has a status.

usage: python_client_test.py TASKD PROTO_DIR GRPC_PROTO_DIR
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import taskd_stubs
from taskd_stubs import fail


def main():
    taskd, proto_dir, grpc_proto_dir = sys.argv[1:4]
    work = tempfile.mkdtemp(prefix="taskd-py-")
    os.chmod(work, 0o700)
    daemon = None
    log = os.path.join(work, "taskd.log")
    try:
        taskd_stubs.generate(work, proto_dir, grpc_proto_dir)
        import grpc
        from google.protobuf import descriptor_pb2
        from taskd.v1 import taskd_pb2 as pb
        from taskd.v1 import taskd_pb2_grpc as pb_grpc
        from taskd_health import health_pb2, health_pb2_grpc
        from taskd_reflection import reflection_pb2, reflection_pb2_grpc

        sock = os.path.join(work, "run", "taskd.sock")
        daemon, channel = taskd_stubs.start_taskd(
            taskd, ["--data-dir", os.path.join(work, "data"), "--socket", sock,
                    "--log-format", "json"], sock, log)
        stub = pb_grpc.TaskServiceStub(channel)

        # Submit, wait, list, read logs.
        spec = pb.TaskSpec(name="py-hello")
        spec.exec.argv.extend(["sh", "-c", "echo hello from python; echo oops >&2"])
        spec.labels["client"] = "python"
        rid = str(uuid.uuid4())
        task = stub.SubmitTask(pb.SubmitTaskRequest(spec=spec, request_id=rid), timeout=10)
        again = stub.SubmitTask(pb.SubmitTaskRequest(spec=spec, request_id=rid), timeout=10)
        if again.id != task.id:
            fail("a repeated request_id made a second task")
        done = stub.WaitTask(pb.WaitTaskRequest(id=task.id), timeout=30)
        if done.state != pb.TASK_STATE_COMPLETED or done.result.exit_code != 0:
            fail("task did not complete: " + str(done), log)
        listed = stub.ListTasks(pb.ListTasksRequest(labels={"client": "python"}), timeout=10)
        if [t.id for t in listed.tasks] != [task.id]:
            fail("ListTasks by label: " + str([t.id for t in listed.tasks]))
        out = b"".join(c.data for c in stub.ReadTaskLogs(
            pb.ReadTaskLogsRequest(id=task.id, stream=pb.LOG_STREAM_STDOUT), timeout=10))
        if out != b"hello from python\n":
            fail("stdout read back as %r" % out)
        err = b"".join(c.data for c in stub.ReadTaskLogs(
            pb.ReadTaskLogsRequest(id=task.id, stream=pb.LOG_STREAM_STDERR), timeout=10))
        if err != b"oops\n":
            fail("stderr read back as %r" % err)
        try:
            stub.GetTask(pb.GetTaskRequest(id="nope"), timeout=10)
            fail("GetTask of an unknown id succeeded")
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.NOT_FOUND:
                fail("GetTask of an unknown id: %s %s" % (e.code(), e.details()))
        print("ok: submit, wait, list, logs")

        # Reflection: list the services, then fetch the file that defines
        # TaskService and find its methods.
        refl = reflection_pb2_grpc.ServerReflectionStub(channel)
        reqs = [reflection_pb2.ServerReflectionRequest(list_services=""),
                reflection_pb2.ServerReflectionRequest(
                    file_containing_symbol="taskd.v1.TaskService")]
        answers = list(refl.ServerReflectionInfo(iter(reqs), timeout=10))
        services = {s.name for s in answers[0].list_services_response.service}
        for want in ("taskd.v1.TaskService", "grpc.health.v1.Health"):
            if want not in services:
                fail("reflection lists %s, not %s" % (sorted(services), want))
        methods = set()
        for raw in answers[1].file_descriptor_response.file_descriptor_proto:
            fd = descriptor_pb2.FileDescriptorProto.FromString(raw)
            for svc in fd.service:
                if svc.name == "TaskService":
                    methods = {m.name for m in svc.method}
        for want in ("SubmitTask", "WaitTask", "WatchTasks", "ReadTaskLogs"):
            if want not in methods:
                fail("reflection's TaskService has no %s: %s" % (want, sorted(methods)))
        print("ok: reflection lists %d services, TaskService has %d methods"
              % (len(services), len(methods)))

        health = health_pb2_grpc.HealthStub(channel)
        status = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10).status
        if status != health_pb2.HealthCheckResponse.SERVING:
            fail("health is %s, not SERVING" % status)
        print("ok: health SERVING")

        # SIGTERM while 100 WaitTask calls wait on a task that would run for long.
        spec = pb.TaskSpec(name="long")
        spec.exec.argv.extend(["sleep", "1000"])
        long_task = stub.SubmitTask(pb.SubmitTaskRequest(spec=spec), timeout=10)
        short = pb.WaitTaskRequest(id=long_task.id)
        short.timeout.FromMilliseconds(200)
        if stub.WaitTask(short, timeout=10).state != pb.TASK_STATE_RUNNING:
            fail("the long task is not running")
        calls = [stub.WaitTask.future(pb.WaitTaskRequest(id=long_task.id), timeout=60)
                 for _ in range(100)]
        # The calls are on the wire once the server has answered a later one.
        stub.GetTask(pb.GetTaskRequest(id=long_task.id), timeout=10)
        time.sleep(0.5)
        pending = sum(1 for c in calls if not c.done())
        if pending != 100:
            fail("only %d of 100 waits were still waiting before SIGTERM" % pending)
        start = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        try:
            rc = daemon.wait(timeout=10)
        except subprocess.TimeoutExpired:
            fail("taskd did not exit within 10 s of SIGTERM", log)
        took = time.monotonic() - start
        if rc != 0:
            fail("taskd exited %d after SIGTERM" % rc, log)
        codes = {}
        for c in calls:
            try:
                c.result(timeout=5)
                code = grpc.StatusCode.OK
            except grpc.FutureTimeoutError:
                fail("a WaitTask call still hangs after taskd exited")
            except grpc.RpcError as e:
                code = e.code()
            codes[code.name] = codes.get(code.name, 0) + 1
        if sum(codes.values()) != 100:
            fail("answers: %s" % codes)
        print("ok: SIGTERM with 100 waits in flight: exit 0 in %.2f s; answers %s"
              % (took, codes))
    finally:
        if daemon and daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
