#!/usr/bin/env bash
# Issue 19's k-reciprocal re-ranking rows of BENCHMARKS.md: each setting of `eval --rerank
# K1,K2,LAMBDA` on H&M product codes with the whole catalogue as gallery, from one index of
# the catalogue (`eval --catalog --index`: embedded once, every row in seconds).
#   scripts/bench-rerank.sh RUN [SPLIT] [SETTINGS...]   # SPLIT val (default) or test
# Choose on val, report the chosen setting on test. Needs a trained RUN (e.g. runs/tuned).
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:?usage: scripts/bench-rerank.sh RUN [val|test] [K1,K2,LAMBDA...]}
split=${2:-val}
shift $(( $# < 2 ? $# : 2 ))
settings=("$@")
[ ${#settings[@]} -gt 0 ] || settings=(20,6,0.3 10,3,0.3 5,2,0.3 3,1,0.3 5,1,0.5 3,1,0.5 3,2,0.7 2,1,0.7 5,2,0.8 3,1,0.9)
hm=../shared/data/hm
cargo build --release --locked -q -p lookbook
bin=target/release/lookbook
index=$run/index-hm
# The index of the whole catalogue serves every split: built once (an index of the same model is
# resumed, or kept as it is when complete; a run trained further is indexed again).
"$bin" -q index --model "$run" --catalog "$hm" --out "$index"
row() {
    "$bin" -q eval --catalog "$hm" --index "$index" --protocol product-code --split "$split" --gallery all \
        --ks 1,5,10,20,50 "$@" 2>/dev/null | tail -1
}
echo "| $run, $split, gallery all | top-1 | top-5 | top-10 | top-20 | top-50 |"
echo "|---|---|---|---|---|---|"
echo "| as embedded $(row)"
for s in "${settings[@]}"; do
    echo "| --rerank $s $(row --rerank "$s")"
done
