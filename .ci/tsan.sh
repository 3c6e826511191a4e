#!/bin/sh
# .ci/tsan.sh - builds the library and tests with ThreadSanitizer (clang -fsanitize=thread) into
# build-tsan/ and runs the tests that use threads: test_threads, test_threads8 (one model, 8
# threads, one workspace each), test_winograd and test_fuse (layers splitting their work over a
# pool). Any data race fails the run.
# Environment: TC_TSAN_BUILD (build directory), TC_TSAN_TESTS (ctest -R regex, default
# "thread|winograd|fuse").
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${TC_TSAN_BUILD:-$ROOT/build-tsan}
command -v clang >/dev/null ||
    { echo ".ci/tsan.sh: needs clang (apt-get install clang)" >&2; exit 1; }
CC=clang cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_C_FLAGS="-fsanitize=thread -fno-omit-frame-pointer -O1" \
    -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread >/dev/null
cmake --build "$BUILD" -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
cd "$BUILD"
TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1" \
    ctest --output-on-failure -R "${TC_TSAN_TESTS:-thread|winograd|fuse}"
