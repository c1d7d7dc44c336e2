#!/usr/bin/env bash
# `lookbook index add` of PHOTOS H&M photos into PostgreSQL tables of each size in SIZES (issue 22:
# an add costs the photos, not the table), as BENCHMARKS.md reports it:
#   scripts/bench-pg-add.sh [SIZES] [PHOTOS]      (default 20000,1000000 and 1000)
# Starts a local PostgreSQL 18 + pgvector 0.8 (scripts/postgres.sh) unless LOOKBOOK_PG_URL names one.
# The tables (add_N) are kept and reused; building the 1M one takes ~5 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${1:-20000,1000000}
photos=${2:-1000}
if [ -z "${LOOKBOOK_PG_URL:-}" ]; then
    eval "$(scripts/postgres.sh start)"
    trap 'scripts/postgres.sh stop' EXIT
fi
cargo build -q --release -p lookbook
LOOKBOOK_BIN="$PWD/target/release/lookbook" cargo bench -q -p lookbook --bench pg_add -- \
  --n "$sizes" --photos "$photos" --catalog "$PWD/../shared/data/hm"
