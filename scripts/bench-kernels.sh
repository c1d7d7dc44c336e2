#!/usr/bin/env bash
# Issue 20's before/after in one run: lookbook built at REV (before our EfficientNet kernels) and
# at the working tree (after), alternating on the same machine —
#   `lookbook index` of ../shared/data/hm with each RUN (default runs/effnet runs/quick): wall
#   time, img/s, model vs waiting for decode, peak RSS (/usr/bin/time -v);
#   `serve_load` at one client on the first RUN's index (search by item id and by upload, with
#   and without boxes): the upload p50 is the forward pass.
#   scripts/bench-kernels.sh [REV] [RUN...]
# REV's build goes to target/before-REV (a git worktree; BEFORE=DIR uses another checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:-5e3e292}
shift || true
runs=("$@")
[ ${#runs[@]} -gt 0 ] || runs=(runs/effnet runs/quick)
before_dir=${BEFORE:-target/before-$rev}
if [ ! -d "$before_dir" ]; then
    git worktree add -f "$before_dir" "$rev"
fi
(cd "$before_dir" && cargo build --release --locked -q -p lookbook)
cargo build --release --locked -q -p lookbook
cargo bench -q --locked -p lookbook --bench serve_load --no-run
declare -A bin=([before]="$(realpath "$before_dir/target/release/lookbook")" [after]="$(realpath target/release/lookbook)")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for run in "${runs[@]}"; do
    for side in before after; do
        echo "== $side: lookbook index --model $run --catalog ../shared/data/hm"
        /usr/bin/time -v "${bin[$side]}" index --model "$run" --catalog ../shared/data/hm \
            --out "$out/$side-$(basename "$run")" 2>"$out/time.txt" | tail -2
        grep -E "Elapsed|Maximum resident" "$out/time.txt"
    done
done
first=$(basename "${runs[0]}")
for side in before after; do
    echo "== $side: serve_load, 1 client, index of ${runs[0]}"
    LOOKBOOK_BIN=${bin[$side]} cargo bench -q --locked -p lookbook --bench serve_load -- \
        --index "$(realpath "$out/after-$first")" --clients 1 --seconds 20
done
