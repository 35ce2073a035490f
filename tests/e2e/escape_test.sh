#!/usr/bin/env bash
# Processes that leave their task's process group (setsid) do not outlive
# the task: not after a cancel, not after a normal end, not after taskd's
# SIGTERM.
source "$(dirname "$0")/lib.sh"
start_daemon
tag=$$$RANDOM  # unique sleep lengths: other tests may run sleeps of their own

trap 'pkill -KILL -f "sleep 77[0-9]\.$tag" 2>/dev/null || true; cleanup' EXIT

# 1. cancelled
id=$(taskctl submit -q -- sh -c "setsid sleep 779.$tag & sleep 100")
running_soon "sleep 779.$tag"
taskctl cancel "$id" >/dev/null || true
gone_within "sleep 779.$tag" 5 || fail "after cancel, the escaped 'sleep 779.$tag' still runs"

# 2. ended by itself, successfully
id=$(taskctl submit -q -- sh -c "setsid sleep 778.$tag & sleep 0.2")
running_soon "sleep 778.$tag"
taskctl wait "$id" >/dev/null || fail "the task did not complete"
gone_within "sleep 778.$tag" 5 || fail "after the task ended, the escaped 'sleep 778.$tag' still runs"
case "$(taskctl get "$id" | field state)" in
  COMPLETED*) ;;
  *) fail "killing what escaped changed the task's state" ;;
esac

# 3. taskd stopped with SIGTERM while the task runs
id=$(taskctl submit -q -- sh -c "setsid sleep 777.$tag & sleep 100")
running_soon "sleep 777.$tag"
stop_daemon
gone_within "sleep 777.$tag" 5 || fail "after taskd's SIGTERM, the escaped 'sleep 777.$tag' still runs"
echo "ok: escaped processes end with their task (cancel, normal end, taskd SIGTERM)"
