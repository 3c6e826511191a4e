#!/bin/sh
# .ci/fuzz.sh [SECONDS] [TARGET...] - builds the libFuzzer targets (clang, ASan + UBSan) into
# build-fuzz/ and runs each for SECONDS (default 60) on a scratch copy of its seed corpus and
# regression inputs (tests/fuzz/{corpus,regressions}/<target>; those stay unmodified). TARGET
# is model, image, npy or idx (default: all four). A crash, leak, timeout or broken invariant
# fails the script; the input is saved as build-fuzz/artifacts/<target>/crash-* (add it to
# tests/fuzz/regressions/).
# Environment: TC_FUZZ_BUILD (build directory), TC_FUZZ_ARGS (extra libFuzzer flags).
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SECONDS_EACH=${1:-60}
[ $# -gt 0 ] && shift
TARGETS=${*:-model image npy idx}
BUILD=${TC_FUZZ_BUILD:-$ROOT/build-fuzz}

command -v clang >/dev/null ||
    { echo ".ci/fuzz.sh: needs clang (apt-get install clang)" >&2; exit 1; }
CC=clang cmake -S "$ROOT/tests/fuzz" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j "$(nproc 2>/dev/null || echo 2)" >/dev/null

status=0
for t in $TARGETS; do
    work=$(mktemp -d "${TMPDIR:-/tmp}/tinycnn_fuzz_corpus_XXXXXX")
    cp "$ROOT/tests/fuzz/corpus/$t/"* "$work/"
    cp "$ROOT/tests/fuzz/regressions/$t/"* "$work/" 2>/dev/null || true # none yet for some
    art="$BUILD/artifacts/$t"
    mkdir -p "$art"
    dict=""
    [ -f "$ROOT/tests/fuzz/$t.dict" ] && dict="-dict=$ROOT/tests/fuzz/$t.dict"
    echo "== fuzz_$t for ${SECONDS_EACH}s"
    # shellcheck disable=SC2086
    if ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
        "$BUILD/fuzz_$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$art/" $dict ${TC_FUZZ_ARGS:-} \
        "$work" >"$art/log.txt" 2>&1; then
        grep -E '^#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb' \
            "$art/log.txt" || true
    else
        status=1
        echo ".ci/fuzz.sh: fuzz_$t failed; last lines of $art/log.txt:" >&2
        tail -n 40 "$art/log.txt" >&2
    fi
    rm -rf "$work"
done
exit $status
