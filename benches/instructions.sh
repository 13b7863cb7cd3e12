#!/usr/bin/env bash
# Instructions per traced run, counted by callgrind: a figure that compares across sessions
# and machines where times do not.
#
#   bash benches/instructions.sh                  # build, count, print the table
#   REPEATS=1 bash benches/instructions.sh        # one count per workload, faster
#   bash benches/instructions.sh tracer plain     # only these workloads
#
# Needs valgrind. Builds the `instructions` bench (benches/instructions.rs) in release, then
# runs each workload under `valgrind --tool=callgrind` with FEW and MANY top-level calls
# (1,000 and 11,000); (Ir(MANY) - Ir(FEW)) / (MANY - FEW) is one call's count, the start-up
# and the warm-up cancelled. A call is `outer` → `middle` → `inner`: three traced runs, so
# "per run" is a third of a call, and "over plain" what tracing adds to each run.
#
# Only the calling thread's instructions inside the bench's `counted` function are counted,
# so for `async_handler` the flushes and runtrace's dispatch thread are left out: it is the
# traced code's own share. That share depends on how the two threads interleave (malloc's
# state, whether the dispatch thread sleeps), so it moves by up to a few percent between counts;
# every figure is the median of REPEATS counts (5), and "spread" shows how far they ranged.
# The other workloads repeat to within a few instructions.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

FEW=${FEW:-1000}
MANY=${MANY:-11000}
REPEATS=${REPEATS:-5}
RUNS_PER_CALL=3
if (($# > 0)); then
    workloads=("$@")
else
    workloads=(plain no_handlers one_handler model_usage tracer async_handler)
fi

fail() {
    echo "instructions.sh: $*" >&2
    exit 1
}

command -v valgrind >/dev/null || fail "valgrind is not installed (apt-get install valgrind)"
((MANY > FEW)) || fail "MANY ($MANY) must be larger than FEW ($FEW)"

build=$(mktemp)
trap 'rm -f "$build"' EXIT
echo "building the instructions bench (release)..." >&2
cargo bench --bench instructions --no-run --message-format=json-render-diagnostics >"$build" ||
    fail "the build failed"
exe=$(sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' "$build" | tail -n 1)
[[ -n $exe && -x $exe ]] || fail "no executable for the instructions bench in cargo's output"

# count WORKLOAD CALLS: the instructions callgrind collected inside `counted`.
count() {
    local log collected
    log=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null --collect-atstart=no \
        '--toggle-collect=*instructions::counted*' "$exe" "$1" "$2" 2>&1 >/dev/null) ||
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
echo "per call: (Ir($MANY calls) - Ir($FEW calls)) / $((MANY - FEW)), the median of $REPEATS; a call is 3 runs"
echo
printf '%-15s %14s %12s %16s %14s\n' workload "instr./call" "per run" "over plain/run" "spread/call"

plain=""
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
    awk -v name="$workload" -v call="$median" -v plain="$plain" -v runs=$RUNS_PER_CALL -v spread="$spread" 'BEGIN {
        over = (plain == "" || name == "plain") ? "-" : sprintf("%.1f", (call - plain) / runs)
        printf "%-15s %14.1f %12.1f %16s %14s\n", name, call, call / runs, over, spread
    }'
done
echo
echo "took ${SECONDS}s"
