#!/usr/bin/env bash
# The index benchmarks BENCHMARKS.md reports: 1,000,000 × 256 clustered vectors, HNSW
# (usearch) f32 and i8 at M 16 / ef_construction 64, built on 2 threads, searched on one,
# recall@10 against exact search; exact batched search of 100k; then i8 at M 8 (size).
#   scripts/bench-index.sh [N] [QUERIES]
# Needs ~6 GB of memory at 1M; takes ~20 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
queries=${2:-1000}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
cargo bench -q -p lookbook-index --bench ann -- --n "$n" --queries "$queries" --quantization f32,i8 \
  --m 16 --efc 64 --efs 16,24,32,48,64,128,256
cargo bench -q -p lookbook-index --bench ann -- --n "$n" --queries "$queries" --quantization i8 \
  --m 8 --efc 64 --efs 32,64,128 --exact-n 0
