#!/usr/bin/env bash
# The layering rule of ARCHITECTURE.md, checked on the includes: a file may
# include taskd headers only from the folders its own folder may depend on.
# The build enforces it too (each target's include path holds only its own
# folder: taskd_headers in cmake/TaskdOptions.cmake), but only for what a
# target compiles; this also covers a header its own target never includes.
# Usage: layering_test.sh SOURCE_DIR
set -euo pipefail
cd "$1"

# folder -> the folders (prefixes of include paths) it may include from
allowed() {
  case "$1" in
    common) echo "common" ;;
    core/model) echo "common core/model" ;;
    core/exec) echo "common core/model core/exec" ;;
    core/store) echo "common core/model core/store" ;;
    core/engine) echo "common core/model core/exec core/store core/engine" ;;
    server) echo "common core server taskd/v1" ;;
    client) echo "common client taskd/v1" ;;
    taskctl) echo "common client taskctl taskd/v1" ;;
    *) echo "*" ;;  # tests, bench: anything
  esac
}

# The tracked files of a git checkout, else (a source tarball) every file
# but the build trees.
sources() {
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files "$@"
  else
    local args=() p
    for p in "$@"; do args+=(-o -path "./$p"); done
    find . -path ./build -prune -o -type f \( -false "${args[@]}" \) -print | sed 's|^\./||'
  fi
}

bad=0
checked=0
while IFS= read -r file; do
  dir=$(dirname "$file")
  case "$dir" in
    core/*) layer=$(echo "$dir" | cut -d/ -f1-2) ;;
    *) layer=${dir%%/*} ;;
  esac
  rules=$(allowed "$layer")
  [ "$rules" = "*" ] && continue
  checked=$((checked + 1))
  while IFS= read -r inc; do
    ok=0
    for prefix in $rules; do
      case "$inc" in "$prefix"/*) ok=1 ;; esac
    done
    if [ $ok = 0 ]; then
      echo "layering: $file includes \"$inc\" ($layer may include only: $rules)"
      bad=1
    fi
  done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$file")
done < <(sources '*.h' '*.cc' '*.cpp')

# A folder's own files under core/ must not be left at core/ itself.
loose=$(sources 'core/*.h' 'core/*.cc' | grep -v '^core/[^/]*/' || true)
if [ -n "$loose" ]; then
  echo "layering: files directly under core/ (put them in a subsystem folder): $loose"
  bad=1
fi
if [ "$checked" -lt 20 ]; then
  echo "layering: only $checked files checked; is SOURCE_DIR the repository?"
  bad=1
fi
[ $bad = 0 ] && echo "layering: $checked files follow the rule"
exit $bad
