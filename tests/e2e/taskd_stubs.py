"""Helpers for the Python end-to-end tests: fail(), and stubs for taskd.v1, grpc.health.v1 and grpc.reflection.v1alpha,
generated at test time with protoc and grpc_python_plugin (Debian's
protobuf-compiler and protobuf-compiler-grpc), for Debian's python3-grpcio."""

import argparse
import os
import shutil
import subprocess
import sys


def arg_parser():
    """The arguments every script that starts taskd takes: the taskd binary,
    the proto folder and Debian's grpc-proto folder; add your own."""
    ap = argparse.ArgumentParser()
    ap.add_argument("taskd")
    ap.add_argument("proto_dir")
    ap.add_argument("grpc_proto_dir")
    return ap


def fail(msg, log=None):
    """Prints why (and the end of taskd's log) and exits 1."""
    print("FAIL: " + msg, file=sys.stderr)
    if log and os.path.exists(log):
        with open(log, encoding="utf-8", errors="replace") as f:
            print("--- taskd log\n" + "".join(f.readlines()[-40:]), file=sys.stderr)
    sys.exit(1)


def start_taskd(taskd, args, sock, log, timeout=20):
    """Starts TASKD with ARGS (output appended to LOG); waits until it serves
    on the unix socket SOCK. Returns (process, grpc channel)."""
    import grpc
    with open(log, "a") as logf:
        proc = subprocess.Popen([taskd] + args, stdout=logf, stderr=logf)
    channel = grpc.insecure_channel("unix:" + sock)
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
    except grpc.FutureTimeoutError:
        proc.kill()
        fail("taskd did not serve within %d s" % timeout, log)
    return proc, channel


def generate(work, proto_dir, grpc_proto_dir):
    """Generates the modules under WORK/py and puts that on sys.path.

    The gRPC protos are copied under other directory names: generated at
    their own path (grpc/...) they would shadow the grpc package itself.
    """
    protos = os.path.join(work, "protos")
    out = os.path.join(work, "py")
    for sub in ("taskd_health", "taskd_reflection"):
        os.makedirs(os.path.join(protos, sub))
    os.makedirs(out)
    shutil.copy(os.path.join(grpc_proto_dir, "grpc/health/v1/health.proto"),
                os.path.join(protos, "taskd_health"))
    shutil.copy(os.path.join(grpc_proto_dir, "grpc/reflection/v1alpha/reflection.proto"),
                os.path.join(protos, "taskd_reflection"))
    plugin = shutil.which("grpc_python_plugin")
    if not plugin:
        sys.exit("FAIL: grpc_python_plugin not found (Debian package protobuf-compiler-grpc)")
    subprocess.run(["protoc", "-I" + proto_dir, "-I" + protos, "--python_out=" + out,
                    "--grpc_out=" + out, "--plugin=protoc-gen-grpc=" + plugin,
                    "taskd/v1/taskd.proto", "taskd_health/health.proto",
                    "taskd_reflection/reflection.proto"], check=True)
    sys.path.insert(0, out)
