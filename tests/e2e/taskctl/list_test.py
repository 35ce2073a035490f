#!/usr/bin/env python3
"""taskctl list: filters, --limit, the 80-column table, wide, yaml, -q and
--watch (jsonl and yaml)."""
import json
import queue
import subprocess
import threading
import time

import yaml

import taskctl_lib as lib
from taskctl_lib import ENV, TASKCTL, check, fail, ok, submit, tc, tc_ok


def body():
    # A finished task in queue io labelled team=infra, a failed one and a
    # running one: the listing below sees all three states.
    tid = submit("--label", "team=infra", "--queue", "io", "--", "true")
    check(tc("wait", tid).returncode == 0, "the io task")
    failed = submit("--", "false")
    tc("wait", failed)
    pt = submit("--", "sleep", "30")

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


lib.run("list", body)
