#!/usr/bin/env bash
# The main job, end to end, on a fresh machine: build lookbook, read the catalogue,
# decode every photo through the model's input pipeline.
#   scripts/demo.sh [CATALOGUE_DIR]     (default ../shared/data/hm)
set -euo pipefail
cd "$(dirname "$0")/.."
catalogue=${1:-../shared/data/hm}
command -v cargo >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs" >&2; exit 1; }
cargo build --release --locked -p lookbook
./target/release/lookbook catalog inspect "$catalogue"
./target/release/lookbook catalog check "$catalogue"
