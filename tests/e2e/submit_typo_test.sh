#!/usr/bin/env bash
# A mistyped submit option before `--` is a usage error, not part of the command.
source "$(dirname "$0")/lib.sh"
start_daemon

for typo in "--timout 5s" "--lable x=y" "-x"; do
  set +e
  # shellcheck disable=SC2086 # the typo is two words on purpose
  out=$(taskctl submit -q $typo -- sleep 1 2>&1)
  rc=$?
  set -e
  [ "$rc" -eq 2 ] || fail "submit $typo -- sleep 1: exit $rc, not 2 (output: $out)"
  case "$out" in
    *"${typo%% *}"*) ;;
    *) fail "submit $typo: the message does not name ${typo%% *}: $out" ;;
  esac
done
[ -z "$(taskctl list -q)" ] || fail "a mistyped submit created a task: $(taskctl list -q)"

# After `--` anything goes, also a word starting with '-'; and a command
# without `--` keeps its own options.
id=$(taskctl submit -q -- sh -c 'echo "$0 $1"' -a --b)
taskctl wait "$id" >/dev/null || fail "sh -c … -a --b did not complete"
[ "$(taskctl logs "$id")" = "-a --b" ] || fail "the arguments after -- changed: $(taskctl logs "$id")"
id=$(taskctl submit -q --name ok ls -d /)
taskctl wait "$id" >/dev/null || fail "ls -d / did not complete"
echo "ok: mistyped options before -- are usage errors naming the option; commands after -- are whole"
