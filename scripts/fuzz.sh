#!/usr/bin/env bash
# Coverage-guided fuzzing with AFL++ through cargo-afl (stable Rust; issue 21).
#   scripts/fuzz.sh TARGET SECONDS      # TARGET: image | pth | catalogue | index | ivf | checkpoint | graph | router
# Installs cargo-afl once (`cargo install cargo-afl`, which builds AFL++'s LLVM runtime), builds
# fuzz/ (a crate outside the workspace), seeds AFL with fuzz/corpus/TARGET and runs it for SECONDS.
# Findings land in target/fuzz/TARGET/default/{crashes,hangs}; copy a crash into
# fuzz/corpus/TARGET/ (the tests replay that folder) once it is fixed. The last lines printed are
# AFL's own summary (execs, paths, crashes).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/fuzz.sh image|pth|catalogue|index|ivf|checkpoint|graph|router SECONDS}
seconds=${2:?usage: scripts/fuzz.sh TARGET SECONDS}
[ -d "fuzz/corpus/$target" ] || { echo "no target $target (fuzz/corpus/$target)" >&2; exit 2; }
command -v cargo-afl >/dev/null || cargo install --locked cargo-afl
cargo afl config --build >/dev/null 2>&1 || true   # AFL++'s runtime, once per toolchain
(cd fuzz && cargo afl build --release --locked -q --bin "$target")
out=target/fuzz/$target
mkdir -p "$out"
# Containers rarely allow AFL's CPU pinning or core-pattern checks; neither changes what it finds.
export AFL_NO_AFFINITY=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_SKIP_CPUFREQ=1 AFL_NO_UI=1
status=0
(cd fuzz && cargo afl fuzz -V "$seconds" -i "corpus/$target" -o "../$out" "target/release/$target") >"$out/afl.log" 2>&1 \
    || status=$?
tail -n 25 "$out/afl.log"
stats=$out/default/fuzzer_stats
if [ -f "$stats" ]; then
    grep -E '^(execs_done|execs_per_sec|corpus_count|saved_crashes|saved_hangs|run_time)' "$stats"
fi
exit "$status"
