#!/bin/sh
# .ci/valgrind.sh - the whole test suite and a CLI smoke run under valgrind memcheck.
# Builds build-valgrind/ (Debug, no sanitizers), runs every ctest test through valgrind (via
# CMAKE_CROSSCOMPILING_EMULATOR; with TC_VALGRIND_CHILDREN=yes the CLI runs the tests start are
# traced too), then the smoke run: each `tinycnn` command on good and bad input. Any memory
# error or any byte definitely or indirectly lost fails the script (valgrind exits 99); the
# summary lines of the smoke runs are printed.
# Environment: TC_VALGRIND_BUILD (build directory), TC_VALGRIND_TESTS (ctest -R regex).
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${TC_VALGRIND_BUILD:-$ROOT/build-valgrind}
command -v valgrind >/dev/null ||
    { echo ".ci/valgrind.sh: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
VG_OPTS="--error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect"
VG_OPTS="$VG_OPTS --show-leak-kinds=definite,indirect"
# ctest runs each test as "valgrind OPTS... test" (a CMake list: ';'-separated). The `tinycnn`
# processes the tests start run natively (they are checked by the smoke run below and by the
# ASan build) unless TC_VALGRIND_CHILDREN=yes: tracing them too takes about 30 minutes here.
EMULATOR=$(echo "valgrind $VG_OPTS --trace-children=${TC_VALGRIND_CHILDREN:-no} -q" | tr ' ' ';')

cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CROSSCOMPILING_EMULATOR=$EMULATOR" \
    >/dev/null
cmake --build "$BUILD" -j "$(nproc 2>/dev/null || echo 2)" >/dev/null

echo "== test suite under valgrind"
(cd "$BUILD" && ctest --output-on-failure -j "$(nproc 2>/dev/null || echo 2)" \
    ${TC_VALGRIND_TESTS:+-R "$TC_VALGRIND_TESTS"})

echo "== CLI smoke run under valgrind"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tinycnn_valgrind_XXXXXX")
trap 'rm -rf "$TMP"' EXIT
CLI="$BUILD/tinycnn"
TINY="$ROOT/tests/fixtures/images/tiny_2x2.json"
LENET="$ROOT/tests/torch_cases/lenet_330_relu_max"
# 2 images of 2 x 2 and their labels (idx, unsigned bytes) for eval
printf '\000\000\010\003\000\000\000\002\000\000\000\002\000\000\000\002' >"$TMP/images.idx"
printf '\377\000\000\000\000\000\000\377' >>"$TMP/images.idx"
printf '\000\000\010\001\000\000\000\002\000\001' >"$TMP/labels.idx"
gzip -c "$TMP/images.idx" >"$TMP/images.idx.gz"

failed=0
n=0
# smoke EXPECTED_STATUS ARGS...: runs `tinycnn ARGS` under valgrind; valgrind's own verdict
# (99) or an unexpected exit status fails the smoke run.
smoke() {
    want=$1
    shift
    n=$((n + 1))
    log="$TMP/vg_$n.log"
    set +e
    # shellcheck disable=SC2086
    valgrind $VG_OPTS --log-file="$log" "$CLI" "$@" >"$TMP/out_$n.txt" 2>&1
    got=$?
    set -e
    summary=$(grep -E 'ERROR SUMMARY|definitely lost|indirectly lost|All heap blocks' "$log" |
        sed 's/^==[0-9]*== //' | tr '\n' ';')
    echo "tinycnn $1 (exit $got): $summary"
    if [ "$got" -ne "$want" ]; then
        echo ".ci/valgrind.sh: \`tinycnn $*\` exited $got, expected $want" >&2
        cat "$log" "$TMP/out_$n.txt" >&2
        failed=1
    fi
}
smoke 0 summary -m "$ROOT/models/examples/conv_relu.json"
smoke 0 run -m "$ROOT/models/examples/conv_relu.json" \
    --input "$ROOT/models/examples/conv_relu.input.npy" --output "$TMP/y.npy"
smoke 0 run -m "$LENET.json" --input "$LENET.in.npy" --check-finite --max-batch 2
smoke 0 predict -m "$TINY" "$ROOT/samples/digit_0000_7.png" "$ROOT/samples/article_3x3.pgm" \
    --top 2 --json
smoke 0 eval -m "$TINY" --images "$TMP/images.idx.gz" --labels "$TMP/labels.idx"
# the shipped model: fused layers, the direct, Winograd and matrix kernels, 2 threads
smoke 0 predict -m "$ROOT/models/fashion_mnist/model.json" "$ROOT"/samples/fashion_000*.png
smoke 0 bench -m "$ROOT/models/fashion_mnist/model.json" --batch 4 --threads 2 --seconds 0.05
smoke 2 summary -m "$ROOT/tests/fixtures/bad_weights_nan_in_file.json"
smoke 2 summary -m "$ROOT/tests/fixtures/bad_json_deep_nesting.json"
smoke 2 run -m "$LENET.json" --input "$LENET.in.npy" --max-layers 3
smoke 2 predict -m "$TINY" "$ROOT/tests/fixtures/images/hostile_dht_overflow.jpg" \
    --max-pixels 1K
smoke 2 eval -m "$TINY" --images "$TMP/labels.idx" --labels "$TMP/labels.idx"
exit $failed
