#!/usr/bin/env bash
# Fuzzing edgeclass with libFuzzer + AddressSanitizer (nightly Rust), the targets built as
# cargo-fuzz 0.13 builds them but without installing it (a 4-minute `cargo install` in CI).
#
#   scripts/fuzz.sh short [SECONDS]        every target for SECONDS each (default 30), for CI:
#                                          prints executions, seconds, corpus size and crashes per
#                                          target; exits non-zero if any target crashed
#   scripts/fuzz.sh long TARGET SECONDS    one long run
#   scripts/fuzz.sh build                  build every target (ASan)
#   scripts/fuzz.sh seeds [FIXTURES]       build fuzz/extra/<target>/ (bigger seeds, not committed)
#                                          from FIXTURES (default tests/fixtures); runs use it when
#                                          it exists
#   scripts/fuzz.sh repro TARGET FILE      run one input (a crash artifact) through TARGET
#   scripts/fuzz.sh tmin TARGET FILE       minimise a crashing input
#   scripts/fuzz.sh topup GOAL CHUNK       run the target with the fewest logged seconds for CHUNK
#                                          seconds (less when it needs less), again and again,
#                                          until every target has GOAL
#   scripts/fuzz.sh report                 cumulative seconds and executions per target
#   scripts/fuzz.sh list                   the targets
#
# Every run (short and long) appends one line per target to docs/fuzz-log.tsv: date, target,
# seconds, executions, crashes, git commit, mode, CPU seconds (FUZZ_LOG=0 turns that off, e.g.
# in CI).
# Runs are niced and one at a time (libFuzzer's -jobs/-workers are not used).
# Environment: FUZZ_RSS_MB (default 2048), FUZZ_TIMEOUT (seconds per input, default 30),
# FUZZ_NICE (default 10), FUZZ_ARGS (extra libFuzzer arguments), FUZZ_TARGETS (a space-separated
# subset of the targets for short and topup), FUZZ_SMOKE=1 (CI: a quick build, see below).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FUZZ="$ROOT/fuzz"
LOG="$ROOT/docs/fuzz-log.tsv"
TARGETS=(params symbol model_load jpeg png exif classify archive)
RSS_MB="${FUZZ_RSS_MB:-2048}"
TIMEOUT="${FUZZ_TIMEOUT:-30}"
NICE="${FUZZ_NICE:-10}"
# The fuzz crate keeps its own target dir (fuzz/target), whatever the caller's is.
unset CARGO_TARGET_DIR

die() { echo "fuzz.sh: $*" >&2; exit 2; }

ensure_tools() {
    if ! rustup run nightly rustc --version >/dev/null 2>&1; then
        rustup toolchain install nightly --profile minimal
    fi
    HOST=$(rustup run nightly rustc -vV | sed -n 's/^host: //p')
}

known_target() {
    local t
    for t in "${TARGETS[@]}"; do [ "$t" = "$1" ] && return 0; done
    die "unknown target $1 (targets: ${TARGETS[*]})"
}

# FUZZ_TARGETS narrows short and topup to some targets, e.g. two topup loops side by side, each
# with its own targets (two loops over all targets would both pick the one furthest behind).
if [ -n "${FUZZ_TARGETS:-}" ]; then
    read -r -a wanted <<<"$FUZZ_TARGETS"
    for w in "${wanted[@]}"; do known_target "$w"; done
    TARGETS=("${wanted[@]}")
fi

# What `cargo fuzz build` (0.13.1, defaults, AddressSanitizer) runs: release with line tables,
# debug assertions, sancov instrumentation, one codegen unit, the host as an explicit --target (so
# build scripts and proc-macros stay uninstrumented). Same flags, same fuzz/target/HOST/release.
# FUZZ_SMOKE=1: 16 codegen units, the dependencies (tract above all) at opt-level 0 and
# edgeclass at 1. The instrumented build takes 3m50s instead of 11-13 minutes on this 2-core
# VM, and the targets run their seeds and a few mutations (in 20 s: params ~15,000 executions,
# jpeg ~190, model_load ~55, classify only its seeds, without the PNG layouts: 47 s, below).
# For CI's short leg; fuzzing for real
# keeps cargo-fuzz's settings.
CODEGEN_UNITS=1
PROFILE_FUZZ=()
if [ "${FUZZ_SMOKE:-0}" = 1 ]; then
    CODEGEN_UNITS=16
    PROFILE_FUZZ=(--config 'profile.release.package."*".opt-level=0'
        --config 'profile.release.package.edgeclass.opt-level=1')
fi
RUSTFLAGS_FUZZ="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing \
-Cllvm-args=-simplifycfg-branch-fold-threshold=0 -Zsanitizer=address \
-Cllvm-args=-sanitizer-coverage-stack-depth -Cdebug-assertions \
-Ccodegen-units=$CODEGEN_UNITS"
build() { # build [TARGET]: one target, or all
    local which=(--bins)
    [ $# -gt 0 ] && which=(--bin "$1")
    (cd "$FUZZ" && RUSTFLAGS="$RUSTFLAGS_FUZZ" nice -n "$NICE" cargo +nightly build --release \
        --config 'profile.release.debug="line-tables-only"' "${PROFILE_FUZZ[@]}" --target "$HOST" "${which[@]}")
}
# fuzz_cmd TARGET: FUZZ_CMD is the command that runs the target's libFuzzer binary, with the
# ASAN_OPTIONS cargo-fuzz sets (an array, so that nice and time can run it).
fuzz_cmd() {
    FUZZ_CMD=(env "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_odr_violation=0"
        "$FUZZ/target/$HOST/release/$1")
}

# The commit fuzzed, "-dirty" when the tree differs from it (the log itself does not count: it
# changes with every run).
commit_id() {
    local id
    id=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) || { echo unknown; return; }
    git -C "$ROOT" diff --quiet HEAD -- . ':!docs/fuzz-log.tsv' 2>/dev/null || id="$id-dirty"
    echo "$id"
}

count_files() { if [ -d "$1" ]; then find "$1" -type f | wc -l; else echo 0; fi; }

# run TARGET SECONDS MODE: one libFuzzer run; prints a summary line, logs it, returns 1 on a crash.
run_target() {
    local target=$1 seconds=$2 mode=$3
    local corpus="$FUZZ/corpus/$target" artifacts="$FUZZ/artifacts/$target"
    local out="$FUZZ/logs/$target-$(date +%Y%m%dT%H%M%S).log"
    mkdir -p "$corpus" "$artifacts" "$FUZZ/logs"
    local dirs=("$corpus" "$FUZZ/seeds/$target")
    # FUZZ_SMOKE=1 (CI): classify's seeds without the 156 PNG layouts. Each classify input is an
    # inference of the unoptimised, instrumented build (about 1.2 s), and libFuzzer runs every seed
    # before it looks at the time: with them, the "20 s" run took 333 s. The png target reads every
    # layout in the same leg, and tests/decode_layouts.rs checks them against OpenCV.
    if [ "${FUZZ_SMOKE:-0}" = 1 ] && [ "$target" = classify ]; then
        local smoke_seeds="$FUZZ/target/smoke-seeds/$target"
        rm -rf "$smoke_seeds"
        mkdir -p "$smoke_seeds"
        find "$FUZZ/seeds/$target" -maxdepth 1 -type f ! -name 'layout-*' -exec cp {} "$smoke_seeds/" \;
        dirs=("$corpus" "$smoke_seeds")
    fi
    [ -d "$FUZZ/extra/$target" ] && dirs+=("$FUZZ/extra/$target")
    # Every PNG layout (its table test's fixtures) is a png seed where it lies.
    [ "$target" = png ] && dirs+=("$ROOT/tests/fixtures/png-layouts")
    local dict=()
    [ -f "$FUZZ/dict/$target.dict" ] && dict=(-dict="$FUZZ/dict/$target.dict")
    local before after started finished rc
    build "$target" >/dev/null 2>&1 || build "$target"
    before=$(find "$artifacts" -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \) | wc -l)
    started=$(date +%s)
    set +e
    # /usr/bin/time: the CPU seconds the fuzzer really got (user + system); on a busy machine a
    # niced run's wall time overstates the fuzzing done.
    local cpu_file="$out.cpu"
    fuzz_cmd "$target"
    (cd "$FUZZ" && /usr/bin/time -f '%U %S' -o "$cpu_file" nice -n "$NICE" "${FUZZ_CMD[@]}" \
        -max_total_time="$seconds" -rss_limit_mb="$RSS_MB" -timeout="$TIMEOUT" \
        -print_final_stats=1 -artifact_prefix="$artifacts/" "${dict[@]}" ${FUZZ_ARGS:-} \
        "${dirs[@]}") >"$out" 2>&1
    rc=$?
    local cpu_s
    cpu_s=$(awk 'END { if (NF == 2) printf "%d", $1 + $2 }' "$cpu_file" 2>/dev/null || true)
    cpu_s=${cpu_s:-0}
    set -e
    finished=$(date +%s)
    after=$(find "$artifacts" -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \) | wc -l)
    local crashes=$((after - before))
    if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes=1; fi
    local execs
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out" | grep -o '[0-9]*$' | tail -1 || true)
    if [ -z "$execs" ]; then
        execs=$(grep -o '^#[0-9]*' "$out" | tr -d '#' | tail -1 || true)
    fi
    execs=${execs:-0}
    local elapsed=$((finished - started)) done_s
    # libFuzzer's own count when it finished normally (excludes start-up); else the wall time.
    done_s=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$out" | awk '{print $5}' | tail -1 || true)
    [ -n "$done_s" ] && elapsed=$done_s
    printf '%-11s %10s execs %6ss (%s CPU s) %7s corpus %3s crashes  (%s)\n' \
        "$target" "$execs" "$elapsed" "$cpu_s" "$(count_files "$corpus")" "$crashes" "${out#"$ROOT"/}"
    if [ "${FUZZ_LOG:-1}" != 0 ]; then
        mkdir -p "$(dirname "$LOG")"
        [ -s "$LOG" ] || printf 'date\ttarget\tseconds\texecutions\tcrashes\tcommit\tmode\tcpu_seconds\n' >"$LOG"
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$target" \
            "$elapsed" "$execs" "$crashes" "$(commit_id)" \
            "$mode" "$cpu_s" >>"$LOG"
    fi
    if [ "$crashes" -ne 0 ]; then
        echo "--- $target crashed (exit $rc):" >&2
        grep -m1 -A6 -E 'panicked at|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)' "$out" | cut -c1-300 >&2 || tail -20 "$out" >&2
        echo "--- newest artifacts:" >&2
        ls -t "$artifacts" | head -"$crashes" | sed "s|^|$artifacts/|" >&2 || true
        return 1
    fi
}

mode=${1:-}
[ -n "$mode" ] || die "usage: see the head of $0"
shift
case "$mode" in
list)
    printf '%s\n' "${TARGETS[@]}"
    ;;
build)
    ensure_tools
    build "$@"
    ;;
short)
    seconds=${1:-30}
    ensure_tools
    build
    failed=()
    for t in "${TARGETS[@]}"; do
        run_target "$t" "$seconds" short || failed+=("$t")
    done
    if [ "${#failed[@]}" -ne 0 ]; then
        echo "crashed: ${failed[*]}" >&2
        exit 1
    fi
    ;;
long)
    [ $# -eq 2 ] || die "usage: fuzz.sh long TARGET SECONDS"
    known_target "$1"
    ensure_tools
    build "$1"
    run_target "$1" "$2" long
    ;;
seeds)
    src=${1:-$ROOT/tests/fixtures}
    python3 "$FUZZ/make_seeds.py" extra "$src"
    for t in "${TARGETS[@]}"; do printf '%-11s %4s extra seeds\n' "$t" "$(count_files "$FUZZ/extra/$t")"; done
    ;;
repro)
    [ $# -eq 2 ] || die "usage: fuzz.sh repro TARGET FILE"
    known_target "$1"
    ensure_tools
    file=$(realpath "$2")
    build "$1"
    fuzz_cmd "$1"
    "${FUZZ_CMD[@]}" -rss_limit_mb="$RSS_MB" "$file"
    ;;
tmin)
    [ $# -eq 2 ] || die "usage: fuzz.sh tmin TARGET FILE"
    known_target "$1"
    ensure_tools
    file=$(realpath "$2")
    build "$1"
    # libFuzzer's own minimiser (what `cargo fuzz tmin` runs): the result lands beside the
    # artifacts as minimized-from-*.
    fuzz_cmd "$1"
    (cd "$FUZZ" && nice -n "$NICE" "${FUZZ_CMD[@]}" -minimize_crash=1 -runs=255 -rss_limit_mb="$RSS_MB" \
        -artifact_prefix="$FUZZ/artifacts/$1/" "$file")
    ;;
topup)
    # Until every target has GOAL seconds logged (CPU seconds where logged, wall seconds on the
    # older lines), run the one furthest behind for CHUNK seconds; a crash stops it.
    [ $# -eq 2 ] || die "usage: fuzz.sh topup GOAL_SECONDS CHUNK_SECONDS"
    ensure_tools
    build
    while :; do
        # "target seconds": the one furthest behind and the run it needs, at most CHUNK; its
        # deficit is CPU seconds and a run is limited in wall seconds, so ask for 1/0.85 of it
        # (a niced run on an otherwise idle core gets 0.85-0.99 of the wall clock).
        read -r next secs < <(awk -F'\t' -v goal="$1" -v chunk="$2" -v list="${TARGETS[*]}" '
            NR > 1 { done_s[$2] += ($8 != "" ? $8 : $3) }
            END {
                n = split(list, t, " "); best = ""
                for (i = 1; i <= n; i++)
                    if (done_s[t[i]] + 0 < goal && (best == "" || done_s[t[i]] + 0 < done_s[best] + 0)) best = t[i]
                if (best == "") { print ""; exit }
                need = int((goal - done_s[best]) / 0.85) + 30
                print best, (need < chunk ? need : chunk)
            }' "$LOG") || true
        [ -n "${next:-}" ] || { echo "every target has $1 s"; break; }
        run_target "$next" "$secs" long
    done
    ;;
report)
    [ -s "$LOG" ] || die "no runs logged yet ($LOG)"
    # cpu_seconds (column 8) exists from 2026-12-06 on; earlier lines have wall seconds only.
    awk -F'\t' 'NR > 1 { s[$2] += $3; e[$2] += $4; c[$2] += $5; n[$2]++; ts += $3
            if ($8 != "") { cpu[$2] += $8; cs[$2] += $3; tc += $8 } }
        END {
            printf "%-11s %5s %9s %14s %8s %22s\n", "target", "runs", "seconds", "executions", "crashes", "CPU s (of wall s)"
            for (t in s) printf "%-11s %5d %9d %14d %8d %13d (of %d)\n", t, n[t], s[t], e[t], c[t], cpu[t], cs[t]
            printf "total: %d s = %.2f h (CPU seconds logged since 2026-12-06: %d)\n", ts, ts / 3600, tc
        }' "$LOG"
    ;;
*)
    die "unknown mode $mode (short, long, topup, build, seeds, repro, tmin, report, list)"
    ;;
esac
