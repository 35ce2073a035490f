#!/usr/bin/env bash
# Connections that send nothing exhaust taskd's descriptors (soft and hard
# limit 128 here); once they close, taskd answers again on every listener.
source "$(dirname "$0")/lib.sh"
PY=${PYTHON3:-/usr/bin/python3}

bash -c 'ulimit -n 128 && exec "$0" "$@"' "$TASKD_BIN" --data-dir "$WORK/data" \
  --listen 127.0.0.1:0 --insecure >>"$WORK/taskd.log" 2>&1 &
DAEMON_PID=$!
port=""
for _ in $(seq 1 200); do
  port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/taskd.log" | head -1)
  [ -n "$port" ] && taskctl health >/dev/null 2>&1 && break
  kill -0 "$DAEMON_PID" 2>/dev/null || fail "taskd exited during start-up"
  sleep 0.05
done
[ -n "$port" ] || fail "taskd did not say its TCP port"

# Hold up to 300 silent TCP connections and 60 unix ones, ask for health on
# the unix socket while they are held, then close them all.
"$PY" - "$port" "$TASKD_SOCKET" "$TASKCTL_BIN" <<'PYEOF'
import socket, subprocess, sys, time
port, sock_path, taskctl = int(sys.argv[1]), sys.argv[2], sys.argv[3]
held, start = [], time.monotonic()
for i in range(360):
    if time.monotonic() - start > 15:
        break
    if i < 300:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        target = ("127.0.0.1", port)
    else:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        target = sock_path
    s.settimeout(0.3)
    try:
        s.connect(target)
        held.append(s)
    except OSError:
        s.close()
during = subprocess.run(["timeout", "5", taskctl, "--addr", "unix:" + sock_path, "health"],
                        capture_output=True, text=True)
print("flood: %d connections held; health during the flood: exit %d" % (len(held), during.returncode))
for s in held:
    s.close()
PYEOF

check() {  # ADDR: taskctl health answers there; prints the seconds it took
  local t0 t1
  t0=$(date +%s.%N)
  for _ in $(seq 1 30); do
    if timeout 2 "$TASKCTL_BIN" --addr "$1" health >/dev/null 2>&1; then
      t1=$(date +%s.%N)
      echo "$1 answered $(echo "$t1 - $t0" | bc) s after the flood"
      return 0
    fi
    kill -0 "$DAEMON_PID" 2>/dev/null || fail "taskd died after the flood"
    sleep 0.1
  done
  fail "taskd does not answer on $1 after the flood ended"
}
check "unix:$TASKD_SOCKET"
check "127.0.0.1:$port"
id=$(taskctl submit -q -- true)
taskctl wait "$id" >/dev/null || fail "a task after the flood did not complete"
echo "ok: after a descriptor flood, every listener answers and tasks run"
