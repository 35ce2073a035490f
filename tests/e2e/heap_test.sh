#!/usr/bin/env bash
# taskd runs on the heap it was built for (jemalloc, unless built with
# TASKD_JEMALLOC=OFF or with sanitizers), says so when it starts, and serves
# on it: tasks submitted with --wait (a batched watch by ids) and in a burst
# all complete, and it stops cleanly.
source "$(dirname "$0")/lib.sh"
want=${3:?usage: $0 TASKD TASKCTL jemalloc|glibc}
if [ "$want" = jemalloc ]; then
  ldd "$TASKD_BIN" | grep -q 'libjemalloc\.so' || fail "taskd is not linked with jemalloc"
fi
start_daemon --log-level info
grep -qF "heap: $want" "$WORK/taskd.log" || fail "taskd's log does not say 'heap: $want'"

taskctl submit --wait -q -- true >/dev/null || fail "submit --wait of /bin/true did not complete"
ids=()
for i in $(seq 1 20); do ids+=("$(taskctl submit -q --label run=heap -- true)"); done
taskctl wait "${ids[@]}" --timeout 30s >/dev/null || fail "the burst did not complete"
for id in "${ids[@]}"; do
  [ "$(taskctl get "$id" | field state)" = "COMPLETED (SUCCEEDED)" ] || fail "task $id did not complete"
done

stop_daemon
[ "$STOP_RC" -eq 0 ] || fail "taskd exited $STOP_RC on SIGTERM"
echo "ok: taskd ran on $want and completed 21 tasks"
