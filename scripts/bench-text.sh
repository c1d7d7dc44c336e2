#!/usr/bin/env bash
# Issue 23's table: search by words, text → image on a catalogue's test split (never trained on).
# Indexes the catalogue with an image model, trains the text encoder on the train split's words
# into that index's space (timed), then `lookbook eval --protocol text`.
#   scripts/bench-text.sh [CATALOGUE] [IMAGE_MODEL] [OUT]
#     CATALOGUE    default ../shared/data/hm (or ../shared/data/myntra)
#     IMAGE_MODEL  a run folder (default runs/quick, trained with configs/quick.toml when absent)
#                  or imagenet:efficientnet-lite0
#     OUT          where the index and text model go (default target/bench-text/NAME)
set -euo pipefail
cd "$(dirname "$0")/.."
catalogue=${1:-../shared/data/hm}
model=${2:-runs/quick}
name=$(basename "$catalogue")-$(basename "${model//:/-}")
out=${3:-target/bench-text/$name}
cargo build --release --locked -q -p lookbook
bin=target/release/lookbook
if [[ $model != imagenet:* && ! -f $model/latest.json ]]; then
    "$bin" -q train --catalog ../shared/data/hm --config configs/quick.toml --out "$model"
fi
mkdir -p "$out"
"$bin" -q index --model "$model" --catalog "$catalogue" --out "$out/index"
rm -rf "$out/text"
SECONDS=0
"$bin" text train --index "$out/index" --catalog "$catalogue" --out "$out/text"
echo "text training: ${SECONDS} s (wall clock, with the catalogue and index reads)"
"$bin" eval --protocol text --index "$out/index" --catalog "$catalogue" --text-model "$out/text" --ks 1,5,10,50
