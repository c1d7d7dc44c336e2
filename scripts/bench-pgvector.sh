#!/usr/bin/env bash
# PostgreSQL + pgvector against the embedded HNSW index, as BENCHMARKS.md reports it:
#   scripts/bench-pgvector.sh [N] [QUERIES]
# N (default 1,000,000) × 256 clustered vectors: binary-COPY load rate, HNSW build (M 16,
# ef_construction 64) in PostgreSQL and in usearch, recall@10 and QPS with 1 and 8 client
# connections across ef_search. Starts a local PostgreSQL 18 + pgvector 0.8 (scripts/postgres.sh)
# unless LOOKBOOK_PG_URL names one, and stops the one it started. ~30-40 minutes at 1M on 2
# cores; needs ~8 GB of memory and ~3 GB of disk.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
queries=${2:-1000}
if [ -z "${LOOKBOOK_PG_URL:-}" ]; then
    eval "$(scripts/postgres.sh start)"
    trap 'scripts/postgres.sh stop' EXIT
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
cargo bench -q -p lookbook-pgvector --bench pgvector -- --n "$n" --queries "$queries" \
  --m 16 --efc 64 --efs 32,64,128,256 --clients 1,8
