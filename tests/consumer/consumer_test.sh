#!/usr/bin/env bash
# The installed package works for an outside project: installs the build
# tree into a temporary prefix, builds tests/consumer against it twice
# (find_package(taskd) and pkg-config taskd-client), and runs both against
# a real taskd.
# usage: consumer_test.sh BUILD_DIR TASKD TASKCTL
set -euo pipefail
BUILD_DIR=${1:?usage: $0 BUILD_DIR TASKD TASKCTL}
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../e2e/lib.sh" "$2" "$3"

PREFIX="$WORK/prefix"
cmake --install "$BUILD_DIR" --prefix "$PREFIX" >"$WORK/install.log" 2>&1 \
  || { cat "$WORK/install.log"; fail "cmake --install"; }
for f in include/taskd/client/client.h include/taskd/v1/taskd.grpc.pb.h \
         share/taskd/proto/taskd/v1/taskd.proto; do
  [ -f "$PREFIX/$f" ] || fail "not installed: $f"
done
config=$(find "$PREFIX" -name taskdConfig.cmake | head -1)
[ -n "$config" ] || fail "no taskdConfig.cmake installed"
pc=$(find "$PREFIX" -name taskd-client.pc | head -1)
[ -n "$pc" ] || fail "no taskd-client.pc installed"

launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
gen=()
if command -v ninja >/dev/null; then gen=(-G Ninja); fi
cmake -S "$HERE" -B "$WORK/cmake-build" "${gen[@]}" "${launcher[@]}" \
  -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_BUILD_TYPE=Release >"$WORK/configure.log" 2>&1 \
  || { cat "$WORK/configure.log"; fail "configuring the consumer with find_package(taskd)"; }
cmake --build "$WORK/cmake-build" >"$WORK/build.log" 2>&1 \
  || { cat "$WORK/build.log"; fail "building the consumer"; }

# pkg-config: the same source, one compiler line.
export PKG_CONFIG_PATH="$(dirname "$pc")"
flags=$(pkg-config --cflags --libs taskd-client) || fail "pkg-config taskd-client"
${CCACHE:-$(command -v ccache || true)} g++ -std=c++17 -O1 "$HERE/main.cc" -o "$WORK/consumer-pc" \
  $flags -lpthread >"$WORK/pc.log" 2>&1 || { cat "$WORK/pc.log"; fail "g++ with pkg-config flags"; }

start_daemon
export TASKD_ADDR="unix:$TASKD_SOCKET"
out=$("$WORK/cmake-build/consumer" 0) || fail "consumer (CMake) exit $?: $out"
echo "cmake consumer: $out"
out=$("$WORK/consumer-pc" 3) || fail "consumer (pkg-config) exit $?: $out"
echo "pkg-config consumer: $out"
grep -q "TASK_STATE_FAILED exit=3" <<<"$out" || fail "pkg-config consumer: $out"
echo "consumer: 1 passed, 0 failed"
