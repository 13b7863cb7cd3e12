#!/usr/bin/env bash
# What depending on runtrace costs a user's cold build, beside its peers: the crates compiled
# and the CPU time taken, for a one-function binary on each.
#
#   bash benches/build.sh                          # runtrace, fastrace and tracing, 3 builds each
#   REPEATS=1 bash benches/build.sh                # one build per peer, faster
#   bash benches/build.sh runtrace fastrace        # only these peers
#   RUNTRACE=/path/to/checkout bash benches/build.sh   # another runtrace (e.g. an older commit)
#
# Each peer is a scratch binary crate in a temporary folder, holding one traced function
# called from `main`: `#[runtrace::traced_run(kind = "chain")]` (runtrace by path, default
# features), `#[fastrace::trace]` (fastrace 0.7 with "enable") or `#[tracing::instrument]`
# (tracing 0.1, default features). Every build is a debug `cargo build --offline` into a
# target folder of its own, so nothing is shared between builds or with the workspace. The
# scratch crates take this workspace's Cargo.lock, so they resolve offline to the versions
# the workspace is tested with.
#
# CPU time is user + system of cargo and every rustc, build script and linker it ran: the
# work a build takes, which two cores and other loads on the machine do not change the way
# they change wall time. Each figure is the median of REPEATS builds (3). "crates" counts
# cargo's `Compiling` lines: every package built, the scratch crate and build scripts' own
# packages included.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

REPEATS=${REPEATS:-3}
RUNTRACE=$(cd "${RUNTRACE:-.}" && pwd)
if (($# > 0)); then
    peers=("$@")
else
    peers=(runtrace fastrace tracing)
fi

fail() {
    echo "build.sh: $*" >&2
    exit 1
}

[[ -f $RUNTRACE/Cargo.toml && -f $RUNTRACE/Cargo.lock ]] || fail "no runtrace checkout at $RUNTRACE"
((REPEATS > 0)) || fail "REPEATS ($REPEATS) must be at least 1"
for peer in "${peers[@]}"; do
    [[ $peer == runtrace || $peer == fastrace || $peer == tracing ]] ||
        fail "unknown peer $peer (runtrace, fastrace or tracing)"
done

# Fetched for this machine only: other targets' dependencies (wasm's) are not in the cache.
host=$(rustc -vV | sed -n 's/^host: //p')
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# dependencies PEER: the [dependencies] of PEER's scratch crate.
dependencies() {
    case $1 in
    runtrace) echo "runtrace = { path = \"$RUNTRACE\" }" ;;
    fastrace) echo 'fastrace = { version = "0.7", features = ["enable"] }' ;;
    tracing) echo 'tracing = "0.1"' ;;
    esac
}

# program PEER: main.rs of PEER's scratch crate, one traced function called from main. A
# runtrace function takes its callbacks as an added last argument.
program() {
    local attribute callbacks=""
    case $1 in
    runtrace) attribute='runtrace::traced_run(kind = "chain")' callbacks=', &runtrace::CallbackManager::new()' ;;
    fastrace) attribute='fastrace::trace' ;;
    tracing) attribute='tracing::instrument' ;;
    esac
    cat <<EOF
#[$attribute]
fn answer(question: String) -> usize {
    question.len()
}

fn main() {
    println!("{}", answer("what is 2 + 2?".into()$callbacks));
}
EOF
}

# make_crate PEER: the scratch crate's folder, resolved offline once, outside the timed builds.
make_crate() {
    local dir=$scratch/$1
    mkdir -p "$dir/src"
    cat >"$dir/Cargo.toml" <<EOF
[package]
name = "build-cost-$1"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
$(dependencies "$1")

# Not a member of any workspace the temporary folder might sit in.
[workspace]
EOF
    program "$1" >"$dir/src/main.rs"
    cp "$RUNTRACE/Cargo.lock" "$dir/Cargo.lock"
    (cd "$dir" && cargo fetch --offline --quiet --target "$host") || fail "$1's dependencies do not resolve offline"
    echo "$dir"
}

# cpu_time COMMAND...: runs COMMAND, its output to $log, and prints its user + system seconds.
if [[ -x /usr/bin/time ]]; then
    cpu_time() {
        /usr/bin/time -f '%U %S' -o "$scratch/time" "$@" >"$log" 2>&1 || return 1
        awk '{ printf "%.2f", $1 + $2 }' "$scratch/time"
    }
else
    # Bash's `time` keyword, which counts the children's user and system time too.
    cpu_time() {
        local TIMEFORMAT='%U %S' status=0
        { time "$@" >"$log" 2>&1 || status=$?; } 2>"$scratch/time"
        ((status == 0)) || return 1
        awk '{ printf "%.2f", $1 + $2 }' "$scratch/time"
    }
fi

median() { sort -g | sed -n "$(((REPEATS + 1) / 2))p"; }

echo "runtrace at $RUNTRACE ($(git -C "$RUNTRACE" rev-parse --short HEAD 2>/dev/null || echo "no git")), $(rustc --version)"
echo "cold debug builds, the median of $REPEATS; CPU = user + system seconds"
echo
printf '%-10s %7s %9s %14s\n' peer crates "CPU (s)" "CPU spread (s)"

for peer in "${peers[@]}"; do
    dir=$(make_crate "$peer")
    log=$scratch/$peer.log
    seconds=() crates=()
    for ((i = 0; i < REPEATS; i++)); do
        target=$scratch/target-$peer-$i
        cpu=$(cd "$dir" && CARGO_TARGET_DIR=$target cpu_time cargo build --offline) ||
            { cat "$log" >&2; fail "$peer's build failed"; }
        seconds+=("$cpu")
        crates+=("$(grep -c '^ *Compiling ' "$log")")
        rm -rf "$target"
    done
    cpu=$(printf '%s\n' "${seconds[@]}" | median)
    count=$(printf '%s\n' "${crates[@]}" | median)
    spread=$(printf '%s\n' "${seconds[@]}" | sort -g | awk 'NR == 1 { low = $1 } { high = $1 } END { printf "%.1f", high - low }')
    printf '%-10s %7s %9s %14s\n' "$peer" "$count" "$cpu" "$spread"
done

echo
echo "took ${SECONDS}s"
