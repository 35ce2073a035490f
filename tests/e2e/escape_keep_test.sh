#!/usr/bin/env bash
# A task submitted with --kill-mode group may leave a daemon behind: what
# left its process group (setsid) keeps running after the task ends, after
# taskd's SIGTERM and after taskd is killed and restarted, while the task's
# own group still goes.
source "$(dirname "$0")/lib.sh"
start_daemon
tag=$$$RANDOM  # unique sleep lengths: other tests may run sleeps of their own

# Longer than taskd's second look for escaped processes (250 ms).
still_running_after_a_second() {
  sleep 1
  pgrep -f "$1" >/dev/null
}
trap 'pkill -KILL -f "sleep 7[0-9][0-9]\.$tag" 2>/dev/null || true; cleanup' EXIT

# 1. The task ends by itself; its daemon stays, its state is COMPLETED.
id=$(taskctl submit -q --kill-mode group -- sh -c "setsid sleep 776.$tag & sleep 0.2")
running_soon "sleep 776.$tag"
taskctl wait "$id" >/dev/null || fail "the task did not complete"
still_running_after_a_second "sleep 776.$tag" ||
  fail "with --kill-mode group, the escaped 'sleep 776.$tag' was killed when the task ended"
out=$(taskctl get "$id")
[ "$(field 'kill mode' <<<"$out")" = group ] || fail "taskctl get does not show the kill mode: $out"

# 2. A running group-mode task when taskd gets SIGTERM: the task's own
# group goes, what left it stays (and so does the daemon of step 1).
id=$(taskctl submit -q --kill-mode group -- sh -c "setsid sleep 775.$tag & sleep 774.$tag")
running_soon "sleep 775.$tag"
running_soon "sleep 774.$tag"
stop_daemon
gone_within "sleep 774.$tag" 5 || fail "after taskd's SIGTERM, the task's own 'sleep 774.$tag' still runs"
pgrep -f "sleep 775.$tag" >/dev/null || fail "taskd's SIGTERM killed the escaped 'sleep 775.$tag'"
pgrep -f "sleep 776.$tag" >/dev/null || fail "taskd's SIGTERM killed the escaped 'sleep 776.$tag'"

# 3. taskd killed while a group-mode task runs: the next taskd kills the
# recorded group, not what left it.
start_daemon
id=$(taskctl submit -q --kill-mode group -- sh -c "setsid sleep 773.$tag & sleep 772.$tag")
running_soon "sleep 773.$tag"
running_soon "sleep 772.$tag"
for _ in $(seq 1 100); do  # the process group is recorded once the attempt started
  [ "$(taskctl get "$id" | field state)" = RUNNING ] && break
  sleep 0.05
done
sleep 0.5  # the RUNNING record (with its process group) is committed
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
start_daemon
gone_within "sleep 772.$tag" 5 || fail "after the restart, the task's own 'sleep 772.$tag' still runs"
pgrep -f "sleep 773.$tag" >/dev/null || fail "the restart killed the escaped 'sleep 773.$tag'"

# The default is still to kill what escaped (tests/e2e/escape_test.sh has the rest).
id=$(taskctl submit -q -- sh -c "setsid sleep 771.$tag & sleep 0.2")
running_soon "sleep 771.$tag"
taskctl wait "$id" >/dev/null || fail "the task did not complete"
gone_within "sleep 771.$tag" 5 || fail "without --kill-mode, the escaped 'sleep 771.$tag' still runs"
stop_daemon
echo "ok: with --kill-mode group, a process that left the task's group outlives the task and taskd"
