#!/usr/bin/env bash
# taskctl over TCP against the real taskd: without a token it is refused,
# with --token-file it works; `taskctl health` answers SERVING.
source "$(dirname "$0")/lib.sh"

head -c 32 /dev/urandom | base64 | tr -d '/+=\n' >"$WORK/token"
chmod 600 "$WORK/token"
start_daemon --listen 127.0.0.1:0 --token-file "$WORK/token"
tcp=$(grep -o '127\.0\.0\.1:[0-9][0-9]*' "$WORK/taskd.log" | head -1)
[ -n "$tcp" ] || fail "taskd logged no TCP address"

set +e
out=$(taskctl --addr "$tcp" version 2>&1)
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "taskctl over TCP without a token succeeded"
grep -q "bearer token" <<<"$out" || fail "no word of the token in: $out"

taskctl --addr "$tcp" --token-file "$WORK/token" version | grep -q "^taskd " ||
  fail "taskctl with the token was refused"
id=$(taskctl --addr "$tcp" --token-file "$WORK/token" submit -- true)
taskctl --addr "$tcp" --token-file "$WORK/token" wait "$id" >/dev/null ||
  fail "wait over TCP with the token"

[ "$(taskctl health)" = SERVING ] || fail "taskctl health did not say SERVING"
[ "$(taskctl --addr "$tcp" health)" = SERVING ] || fail "health over TCP (no token needed)"

set +e
taskctl --addr "$tcp" --token-file "$WORK/missing" version 2>"$WORK/err"
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "a missing --token-file exited $rc, not 2"
grep -q -- "--token-file" "$WORK/err" || fail "the error does not name --token-file"

stop_daemon
[ "$STOP_RC" -eq 0 ] || fail "taskd exited $STOP_RC after SIGTERM"
echo "ok: token required over TCP, accepted with --token-file; health SERVING"
