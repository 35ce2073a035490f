# Helpers for end-to-end tests that drive the real taskd and taskctl.
# Every wait is bounded; every daemon is stopped on exit.
set -euo pipefail

TASKD_BIN=${1:?usage: $0 TASKD TASKCTL}
TASKCTL_BIN=${2:?usage: $0 TASKD TASKCTL}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/taskd-e2e.XXXXXX")
export TASKD_SOCKET="$WORK/run/taskd.sock"
unset TASKD_ADDR
DAEMON_PID=""

cleanup() {
  if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    kill -KILL "$DAEMON_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  if [ -f "$WORK/taskd.log" ]; then echo "--- taskd log" >&2; tail -50 "$WORK/taskd.log" >&2; fi
  exit 1
}

taskctl() { "$TASKCTL_BIN" "$@"; }

# Starts taskd with the default socket ($TASKD_SOCKET) and waits (bounded)
# until it answers.
start_daemon() {
  "$TASKD_BIN" --data-dir "$WORK/data" "$@" >>"$WORK/taskd.log" 2>&1 &
  DAEMON_PID=$!
  for _ in $(seq 1 200); do
    if taskctl version >/dev/null 2>&1; then return 0; fi
    kill -0 "$DAEMON_PID" 2>/dev/null || fail "taskd exited during start-up"
    sleep 0.05
  done
  fail "taskd did not answer within 10s"
}

# Sends SIGTERM and waits (bounded) for exit; returns its exit status in STOP_RC.
stop_daemon() {
  kill -TERM "$DAEMON_PID"
  for _ in $(seq 1 300); do
    if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
      set +e
      wait "$DAEMON_PID"
      STOP_RC=$?
      set -e
      DAEMON_PID=""
      return 0
    fi
    sleep 0.05
  done
  fail "taskd did not exit within 15s of SIGTERM"
}

# field NAME: the value of "NAME:" in `taskctl get` output on stdin.
field() { sed -n "s/^$1: *//p"; }

# gone_within PATTERN SECONDS: waits (bounded) until no process matches; 1 if one still does.
gone_within() {
  for _ in $(seq 1 $(($2 * 20))); do
    pgrep -f "$1" >/dev/null || return 0
    sleep 0.05
  done
  return 1
}

# running_soon PATTERN: waits (bounded) until a process matches, or fails.
running_soon() {
  for _ in $(seq 1 200); do
    pgrep -f "$1" >/dev/null && return 0
    sleep 0.05
  done
  fail "no process matching '$1' started"
}
