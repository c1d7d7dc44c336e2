#!/usr/bin/env bash
# The index benchmarks BENCHMARKS.md reports.
#   scripts/bench-index.sh [N] [QUERIES] [RUN]
# 1. N (default 1,000,000) × 256 clustered vectors: HNSW (usearch) f32 and i8 at M 16 /
#    ef_construction 64, then i8 at M 32 / ef_construction 128; built on 2 threads, searched
#    on one; recall@10 against exact search; exact batched search of 100k.
# 2. The on-disk index with N records: commit, open mapped, open with checksums, verify.
# 3. With RUN (a trained run with RUN/index): image in → top-10 out on that index, per photo.
# Needs ~4 GB of memory at 1M (3.4 GiB peak measured); ~25-30 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
queries=${2:-1000}
run=${3:-}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
cargo bench -q -p lookbook-index --bench ann -- --n "$n" --queries "$queries" --quantization f32,i8 \
  --m 16 --efc 64 --efs 16,32,64,128,256
cargo bench -q -p lookbook-index --bench ann -- --n "$n" --queries "$queries" --quantization i8 \
  --m 32 --efc 128 --efs 64,128,256,512 --exact-n 0
cargo bench -q -p lookbook-index --bench store -- --n "$n"
if [ -n "$run" ]; then
  cargo bench -q -p lookbook-embed --bench query -- --model "$run" --index "$run/index" --n 200
fi
