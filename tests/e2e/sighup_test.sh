#!/usr/bin/env bash
# SIGHUP re-reads the configuration instead of killing taskd: the log level
# changes at once, other changes wait for a restart, a broken file changes
# nothing, and running tasks are untouched.
source "$(dirname "$0")/lib.sh"
conf="$WORK/taskd.toml"
echo 'log-level = "info"' >"$conf"
start_daemon --config "$conf"
id=$(taskctl submit -q -- sleep 30)

wait_log() {  # TEXT: wait (bounded) until taskd's log has TEXT
  for _ in $(seq 1 100); do
    grep -qF -- "$1" "$WORK/taskd.log" && return 0
    kill -0 "$DAEMON_PID" 2>/dev/null || fail "taskd died waiting for: $1"
    sleep 0.05
  done
  fail "taskd's log never said: $1"
}

kill -HUP "$DAEMON_PID"
wait_log "received SIGHUP"
wait_log "configuration reloaded"
taskctl health >/dev/null || fail "taskd does not answer after SIGHUP"

printf 'log-level = "debug"\nmax-running = 3\n' >"$conf"
kill -HUP "$DAEMON_PID"
wait_log "log level is now debug"
wait_log "take effect when taskd restarts"

echo 'log-level = [' >"$conf"
kill -HUP "$DAEMON_PID"
wait_log "nothing changed"
taskctl health >/dev/null || fail "taskd does not answer after a SIGHUP with a broken file"
[ "$(taskctl get "$id" | field state)" = RUNNING ] || fail "the running task did not survive SIGHUP"

stop_daemon
[ "$STOP_RC" -eq 0 ] || fail "taskd exited $STOP_RC on SIGTERM after the SIGHUPs"
echo "ok: SIGHUP re-read the configuration three times; taskd kept serving and its task kept running"
