#!/usr/bin/env bash
# `lookbook serve` on a PostgreSQL table against the same rows as an index folder (issue 22),
# as BENCHMARKS.md reports it:
#   scripts/bench-serve-table.sh [N] [PARTS] [SECONDS]
# N (default 1,000,000) × 256 clustered vectors, PARTS (default 0) part vectors of 32 each:
# open time, RSS when open and after the queries, search-by-item-id QPS at 1 and 8 clients,
# recall@10. Starts a local PostgreSQL 18 + pgvector 0.8 (scripts/postgres.sh) unless
# LOOKBOOK_PG_URL names one. The table is kept between runs (reused for the same N and shape).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
parts=${2:-0}
seconds=${3:-20}
if [ -z "${LOOKBOOK_PG_URL:-}" ]; then
    eval "$(scripts/postgres.sh start)"
    trap 'scripts/postgres.sh stop' EXIT
fi
cargo build -q --release -p lookbook
LOOKBOOK_BIN="$PWD/target/release/lookbook" cargo bench -q -p lookbook --bench serve_table -- \
  --n "$n" --parts "$parts" --seconds "$seconds"
