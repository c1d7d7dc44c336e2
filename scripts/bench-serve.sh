#!/usr/bin/env bash
# Load on `lookbook serve` (BENCHMARKS.md): 32 clients for 30 s against search by item id,
# then by photo upload, on the index of a trained run (default runs/quick: the demo's quick
# model on ../shared/data/hm; trained and indexed first when missing, ~12 min on 2 cores).
#   scripts/bench-serve.sh [RUN] [CLIENTS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:-runs/quick}
clients=${2:-32}
seconds=${3:-30}
if [ ! -f "$run/index/manifest.json" ]; then
    cargo build --release --locked -p lookbook
    [ -f "$run/latest.json" ] || ./target/release/lookbook train --catalog ../shared/data/hm --config configs/quick.toml --out "$run"
    ./target/release/lookbook index --model "$run" --catalog ../shared/data/hm --out "$run/index"
fi
# Benches run in the package folder: the index path goes absolute.
cargo bench -q --locked -p lookbook --bench serve_load -- --index "$(realpath "$run/index")" --clients "$clients" --seconds "$seconds"
