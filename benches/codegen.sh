#!/usr/bin/env bash
# The code a traced function adds to a user's debug build, beside `#[tracing::instrument]`:
# the bytes of machine code and of debug info per function, and the CPU time the crate of
# traced functions takes to compile.
#
#   bash benches/codegen.sh                 # 200 sync functions per peer
#   N=500 bash benches/codegen.sh           # more functions
#   RUNTRACE=/path/to/checkout bash benches/codegen.sh   # another runtrace (an older commit)
#   SHAPE=async bash benches/codegen.sh     # async functions, each polled once
#
# Scratch binaries in a temporary folder with N and with 2N functions
# `fn f<i>(x: u64) -> u64 { x + <i> }` called from `main`: `plain` (no attribute), `runtrace`
# (`#[runtrace::traced_run(kind = "chain")]`, called with `CallbackManager::none()`) and
# `tracing` (`#[tracing::instrument]`). Each is built in debug, offline, with the workspace's
# Cargo.lock; then its own crate is built again alone, timed. A function's bytes are
# (bytes with 2N - bytes with N) / N, from `size -A` (`.text`: machine code; `debug`: the
# `.debug_*` sections), so what the libraries add once cancels; "added" subtracts plain's,
# leaving what the attribute adds to one function.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

N=${N:-200}
SHAPE=${SHAPE:-sync}
RUNTRACE=$(cd "${RUNTRACE:-.}" && pwd)
peers=(plain runtrace tracing)

fail() {
    echo "codegen.sh: $*" >&2
    exit 1
}

command -v size >/dev/null || fail "size (binutils) is not installed"
[[ -f $RUNTRACE/Cargo.toml && -f $RUNTRACE/Cargo.lock ]] || fail "no runtrace checkout at $RUNTRACE"
((N > 0)) || fail "N ($N) must be at least 1"
[[ $SHAPE == sync || $SHAPE == async ]] || fail "SHAPE must be sync or async, not $SHAPE"

host=$(rustc -vV | sed -n 's/^host: //p')
# Whole rebuilds: incremental compilation would time and lay out what changed since the last.
export CARGO_INCREMENTAL=0
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# program PEER COUNT: main.rs with COUNT functions.
program() {
    local count=$2
    local attribute="" callbacks="" asyncness="" call='f%d(std::hint::black_box(%d)%s)'
    case $1 in
    runtrace) attribute='#[runtrace::traced_run(kind = "chain")]' callbacks=', runtrace::CallbackManager::none()' ;;
    tracing) attribute='#[tracing::instrument]' ;;
    esac
    if [[ $SHAPE == async ]]; then
        asyncness="async " call="ready(std::pin::pin!($call))"
    fi
    for ((i = 0; i < count; i++)); do
        printf '%s\n%sfn f%d(x: u64) -> u64 {\n    x + %d\n}\n\n' "$attribute" "$asyncness" "$i" "$i"
    done
    if [[ $SHAPE == async ]]; then
        # Nothing in the bodies waits: one poll finishes each.
        echo 'fn ready(future: std::pin::Pin<&mut dyn Future<Output = u64>>) -> u64 {'
        echo '    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());'
        echo '    match future.poll(&mut cx) {'
        echo '        std::task::Poll::Ready(value) => value,'
        echo '        std::task::Poll::Pending => unreachable!("nothing waits"),'
        echo '    }'
        echo '}'
        echo
    fi
    echo 'fn main() {'
    echo '    let mut sum = 0u64;'
    for ((i = 0; i < count; i++)); do
        # shellcheck disable=SC2059 # the call's format is ours
        printf "    sum = sum.wrapping_add($call);\n" "$i" "$i" "$callbacks"
    done
    echo '    println!("{sum}");'
    echo '}'
}

# make_crate PEER COUNT: the scratch crate's folder, its dependencies resolved offline.
make_crate() {
    local dir=$scratch/$1-$2 dependency=""
    case $1 in
    runtrace) dependency="runtrace = { path = \"$RUNTRACE\" }" ;;
    tracing) dependency='tracing = "0.1"' ;;
    esac
    mkdir -p "$dir/src"
    cat >"$dir/Cargo.toml" <<EOF
[package]
name = "codegen-$1"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
$dependency

# Not a member of any workspace the temporary folder might sit in.
[workspace]
EOF
    program "$1" "$2" >"$dir/src/main.rs"
    cp "$RUNTRACE/Cargo.lock" "$dir/Cargo.lock"
    (cd "$dir" && cargo fetch --offline --quiet --target "$host") || fail "$1's dependencies do not resolve offline"
    echo "$dir"
}

# sections BINARY: its `.text` bytes and its `.debug_*` bytes.
sections() {
    size -A "$1" | awk '$1 == ".text" { text += $2 } $1 ~ /^\.debug_/ { debug += $2 } END { print text + 0, debug + 0 }'
}

# build PEER COUNT: prints the binary's .text and debug bytes, and its own crate's CPU seconds.
build() {
    local dir log=$scratch/$1-$2.log text debug cpu
    dir=$(make_crate "$1" "$2")
    (cd "$dir" && cargo build --offline >"$log" 2>&1) || { cat "$log" >&2; fail "$1's build failed"; }
    # The crate alone, its dependencies already built: what its functions cost rustc.
    touch "$dir/src/main.rs"
    cpu=$(cd "$dir" && /usr/bin/time -f '%U %S' cargo build --offline 2>&1 >/dev/null | tail -n 1 | awk '{ printf "%.2f", $1 + $2 }')
    read -r text debug <<<"$(sections "$dir/target/debug/codegen-$1")"
    ((text > 0)) || fail "no .text in $1's binary"
    echo "$text $debug $cpu"
}

echo "runtrace at $RUNTRACE ($(git -C "$RUNTRACE" rev-parse --short HEAD 2>/dev/null || echo "no git")), $(rustc --version)"
echo "$SHAPE functions, debug builds; bytes per function = (bytes with $((2 * N)) - bytes with $N) / $N; added = that minus plain's"
echo
printf '%-10s %14s %14s %14s %14s %22s\n' peer ".text per fn" "debug per fn" ".text added" "debug added" "CPU, $((2 * N)) fns (s)"

plain_text="" plain_debug=""
for peer in "${peers[@]}"; do
    once=$(build "$peer" "$N") || exit 1
    twice=$(build "$peer" $((2 * N))) || exit 1
    read -r text1 debug1 _ <<<"$once"
    read -r text2 debug2 cpu <<<"$twice"
    text=$(((text2 - text1) / N)) debug=$(((debug2 - debug1) / N))
    if [[ $peer == plain ]]; then
        plain_text=$text plain_debug=$debug
    fi
    printf '%-10s %14d %14d %14d %14d %22s\n' "$peer" "$text" "$debug" $((text - plain_text)) $((debug - plain_debug)) "$cpu"
done

echo
echo "took ${SECONDS}s"
