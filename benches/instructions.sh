#!/usr/bin/env bash
# Instructions per traced run, counted by callgrind: a figure that compares across sessions
# and machines where times do not.
#
#   bash benches/instructions.sh                  # build, count, print the table
#   REPEATS=1 bash benches/instructions.sh        # one count per workload, faster
#   bash benches/instructions.sh tracer plain     # only these workloads
#   bash benches/instructions.sh otel tracing_otel   # runtrace's OtelHandler against tracing-opentelemetry
#
# Needs valgrind. Builds the `instructions` bench (benches/instructions.rs) in release, then
# runs each workload under `valgrind --tool=callgrind` with FEW and MANY top-level calls
# (1,000 and 11,000); (Ir(MANY) - Ir(FEW)) / (MANY - FEW) is one call's count, the start-up
# and the warm-up cancelled. A call is `outer` → `middle` → `inner`: three traced runs, so
# "per run" is a third of a call, and "over plain" what tracing adds to each run. The depthN_*
# workloads call a chain of N nested runs instead, and the table ends with the ratio of a
# run's count at depth 30 to one at depth 3.
#
# Only the calling thread's instructions inside the bench's `counted` function are counted,
# so for `async_handler` the flushes and runtrace's dispatch thread are left out: it is the
# traced code's own share. That share depends on how the two threads interleave (malloc's
# state, whether the dispatch thread sleeps), so it moves by up to a few percent between counts;
# every figure is the median of REPEATS counts (5), and "spread" shows how far they ranged.
# The other workloads repeat to within a few instructions.
#
# `otel` (runtrace's OtelHandler, content capture off) and `tracing_otel` (`#[instrument]` under
# tracing-opentelemetry and the SDK's BatchSpanProcessor), each exporting to a no-op exporter,
# count the caller's share in the same way: the exports and the flushes are left out. They
# need the facade's `otel` feature, so they run from a second build with `--features otel`;
# the other workloads are counted without it, as the feature adds the zero-code switch's check
# to every traced call. With both counted, the table ends with their ratio per span.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

FEW=${FEW:-1000}
MANY=${MANY:-11000}
REPEATS=${REPEATS:-5}
# runs_per_call WORKLOAD: the runs one call of WORKLOAD makes (a depth row's depth).
runs_per_call() {
    case $1 in
    depth30_*) echo 30 ;;
    *) echo 3 ;;
    esac
}
if (($# > 0)); then
    workloads=("$@")
else
    workloads=(plain no_handlers one_handler model_usage tracer async_handler async_handler_lean depth3_one_handler depth30_one_handler depth3_tracer depth30_tracer otel tracing_otel)
fi
needs_otel() { [[ $1 == otel || $1 == tracing_otel ]]; }

fail() {
    echo "instructions.sh: $*" >&2
    exit 1
}

command -v valgrind >/dev/null || fail "valgrind is not installed (apt-get install valgrind)"
((MANY > FEW)) || fail "MANY ($MANY) must be larger than FEW ($FEW)"

build=$(mktemp)
trap 'rm -f "$build"' EXIT
# build [FEATURES...]: the path of the instructions bench, built in release.
build() {
    echo "building the instructions bench (release${1:+, $*})..." >&2
    cargo bench --bench instructions --no-run --message-format=json-render-diagnostics "$@" >"$build" ||
        fail "the build failed"
    local exe
    exe=$(sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' "$build" | tail -n 1)
    [[ -n $exe && -x $exe ]] || fail "no executable for the instructions bench in cargo's output"
    echo "$exe"
}
exe="" exe_otel=""
for workload in "${workloads[@]}"; do
    if needs_otel "$workload"; then
        [[ -n $exe_otel ]] || exe_otel=$(build --features otel)
    else
        [[ -n $exe ]] || exe=$(build)
    fi
done

# count WORKLOAD CALLS: the instructions callgrind collected inside `counted`.
count() {
    local log collected bin=$exe
    needs_otel "$1" && bin=$exe_otel
    log=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null --collect-atstart=no \
        '--toggle-collect=*instructions::counted*' "$bin" "$1" "$2" 2>&1 >/dev/null) ||
        { echo "$log" >&2; fail "$1 failed under valgrind"; }
    collected=$(sed -n 's/^==[0-9]*== Collected : \([0-9]*\)$/\1/p' <<<"$log")
    [[ -n $collected && $collected -gt 0 ]] ||
        { echo "$log" >&2; fail "callgrind counted nothing for $1 (is \`counted\` still named so?)"; }
    echo "$collected"
}

commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if [[ $commit != unknown && -n $(git status --porcelain 2>/dev/null) ]]; then
    commit="$commit (with uncommitted changes)"
fi
echo "commit $commit, $(valgrind --version)"
echo "per call: (Ir($MANY calls) - Ir($FEW calls)) / $((MANY - FEW)), the median of $REPEATS; a call is 3 runs (depthN_*: N runs)"
echo
printf '%-19s %14s %12s %16s %14s\n' workload "instr./call" "per run" "over plain/run" "spread/call"

plain="" otel_run="" tracing_otel_run=""
declare -A per_run # per run of each workload, for the depth ratios
for workload in "${workloads[@]}"; do
    per_call=()
    for ((i = 0; i < REPEATS; i++)); do
        few=$(count "$workload" "$FEW")
        many=$(count "$workload" "$MANY")
        per_call+=("$(awk -v a="$few" -v b="$many" -v n=$((MANY - FEW)) 'BEGIN { printf "%.2f", (b - a) / n }')")
    done
    sorted=$(printf '%s\n' "${per_call[@]}" | sort -g)
    median=$(sed -n "$(((REPEATS + 1) / 2))p" <<<"$sorted")
    spread=$(awk 'NR == 1 { low = $1 } { high = $1 } END { printf "%.1f", high - low }' <<<"$sorted")
    [[ $workload == plain ]] && plain=$median
    # Per span, over plain where plain was counted: what the ratio below compares.
    runs=$(runs_per_call "$workload")
    per_span=$(awk -v call="$median" -v plain="${plain:-0}" -v runs="$runs" 'BEGIN { printf "%.1f", (call - plain) / runs }')
    per_run[$workload]=$(awk -v call="$median" -v runs="$runs" 'BEGIN { printf "%.1f", call / runs }')
    [[ $workload == otel ]] && otel_run=$per_span
    [[ $workload == tracing_otel ]] && tracing_otel_run=$per_span
    awk -v name="$workload" -v call="$median" -v plain="$plain" -v runs="$runs" -v spread="$spread" 'BEGIN {
        over = (plain == "" || name == "plain" || name ~ /^depth/) ? "-" : sprintf("%.1f", (call - plain) / runs)
        printf "%-19s %14.1f %12.1f %16s %14s\n", name, call, call / runs, over, spread
    }'
done
if [[ -n $otel_run && -n $tracing_otel_run ]]; then
    echo
    awk -v a="$otel_run" -v b="$tracing_otel_run" -v plain="$plain" 'BEGIN {
        printf "OtelHandler / tracing-opentelemetry, caller per span%s: %.1f / %.1f = %.2f (target: under 0.5)\n",
            (plain == "" ? "" : " over plain"), a, b, a / b
    }'
fi
for handler in one_handler tracer; do
    shallow=${per_run[depth3_$handler]:-} deep=${per_run[depth30_$handler]:-}
    if [[ -n $shallow && -n $deep ]]; then
        awk -v a="$shallow" -v b="$deep" -v h="$handler" 'BEGIN {
            printf "%s per run, depth 30 / depth 3: %.1f / %.1f = %.3f (target: at most 1.05)\n", h, b, a, b / a
        }'
    fi
done
echo
echo "took ${SECONDS}s"
