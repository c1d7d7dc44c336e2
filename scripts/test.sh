#!/usr/bin/env bash
# The test suite. Tests on real photos read ../shared/data (or $LOOKBOOK_DATA);
# outside CI they skip with a printed reason when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs" >&2; exit 1; }
cargo test --workspace --locked "$@"
