#!/usr/bin/env bash
# Soak of `lookbook serve` (issue 21, docs/reliability.md): CLIENTS clients for MINUTES minutes
# mixing searches, recommendations (boxes on), paging, uploads and, with a write token, items
# added and removed; a row every 30 s (errors, p50/p99, RSS) and the totals.
#   scripts/soak.sh [MINUTES] [RUN] [CLIENTS]      (defaults: 10, runs/quick, 200)
# The server stores added photos in its catalogue's folder, so it serves a copy of
# ../shared/data/hm in a temporary folder (its test split, indexed with RUN), never the original.
set -euo pipefail
minutes=${1:-10} run=${2:-runs/quick} clients=${3:-200}
cd "$(dirname "$0")/.."
[ -f "$run/latest.json" ] || { echo "no trained run in $run (scripts/bench-serve.sh trains runs/quick)" >&2; exit 1; }
cargo build --release --locked -q -p lookbook
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r ../shared/data/hm "$work/hm"
./target/release/lookbook -q index --model "$run" --catalog "$work/hm" --split test --out "$work/index"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/token"
ulimit -n 4096 2>/dev/null || true
cargo bench -q --locked -p lookbook --bench soak -- --index "$work/index" --token-file "$work/token" \
    --clients "$clients" --minutes "$minutes"
