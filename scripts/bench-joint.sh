#!/usr/bin/env bash
# Issue 19, item 5: one model trained on H&M and Myntra together (`--also-train-on`: Myntra's
# training photos and their labels join H&M's; its products, one photo each, stay out of the
# identity loss) against the same recipe on H&M alone. Each run is then measured on both
# catalogues' test splits: H&M product codes with the whole catalogue as gallery, Myntra
# article types (never trained on in the H&M-only run; its test photos unseen by both).
#   scripts/bench-joint.sh [RUNS_DIR] [CONFIG]   # default runs/ and configs/quick.toml
# Runs are named after the config (quick, quick-joint); one that exists is measured, not
# retrained. configs/quick.toml: ~10 + ~20 min of training on 2 cores; the tuned recipe
# (configs/effnet-tuned-cpu.toml) ~45 + ~90. Needs scripts/setup-weights.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-runs}
config=${2:-configs/quick.toml}
data=${LOOKBOOK_DATA:-../shared/data}
name=$(basename "$config" .toml)
name=${name#effnet-}
name=${name%-cpu}
cargo build --release --locked -q -p lookbook
bin=target/release/lookbook
for run in "$runs/$name" "$runs/$name-joint"; do
    if [ ! -f "$run/latest.json" ]; then
        also=()
        [ "$run" = "$runs/$name-joint" ] && also=(--also-train-on "$data/myntra")
        echo "== training $run"
        ( time "$bin" -q train --catalog "$data/hm" "${also[@]}" --config "$config" --out "$run" ) 2>&1 | tail -4
    fi
    echo "== $run: validation by epoch (identity loss, H&M val top-1, top-5, top-10)"
    cut -d, -f1,11,16,17,18 "$run/metrics.csv"
    echo "== $run: H&M test split, the whole catalogue as gallery"
    "$bin" eval --model "$run" --catalog "$data/hm" --protocol product-code --split test --gallery all \
        --ks 1,5,10,20,50
    echo "== $run: Myntra test split, article type"
    "$bin" eval --model "$run" --catalog "$data/myntra" --protocol category --attribute articleType \
        --split test --ks 1,10
done
