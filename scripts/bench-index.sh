#!/usr/bin/env bash
# The index benchmarks BENCHMARKS.md reports.
#   scripts/bench-index.sh [N] [QUERIES] [RUN]
# 1. N (default 1,000,000) × 256 clustered vectors (1,000 clusters): HNSW (usearch) f32 and
#    i8 at M 16 / ef_construction 64, IVF f32 and i8 (√N lists; single queries and batches of
#    1,000); then HNSW i8 at M 32 / ef_construction 128; built on 2 threads, searched on one;
#    recall@10 against exact search; exact batched search of 100k.
# 2. IVF i8 on harder data for lists (100 clusters, so k-means splits each one over ~10
#    lists), 10,000 queries searched one by one and as one batch.
# 3. The on-disk index with N records: commit, open mapped, open with checksums, verify.
# 4. With RUN (a trained run with RUN/index): image in → top-10 out on that index, per photo.
# Needs ~5 GB of memory at 1M; ~35-40 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
queries=${2:-1000}
run=${3:-}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
cargo bench -q -p lookbook-index --bench ann -- --n "$n" --queries "$queries" --quantization f32,i8 \
  --m 16 --efc 64 --efs 16,32,64,128,256 --ivf-quantization f32,i8 --probes 1,2,4,8,16 --batch 1000
cargo bench -q -p lookbook-index --bench ann -- --n "$n" --queries "$queries" --quantization i8 \
  --m 32 --efc 128 --efs 64,128,256,512 --exact-n 0 --ivf-quantization none
cargo bench -q -p lookbook-index --bench ann -- --n "$n" --clusters 100 --queries $((queries * 10)) \
  --quantization none --ivf-quantization i8 --probes 4,8,16 --batch $((queries * 10)) --exact-n 0
cargo bench -q -p lookbook-index --bench store -- --n "$n"
if [ -n "$run" ]; then
  cargo bench -q -p lookbook-embed --bench query -- --model "$run" --index "$run/index" --n 200
fi
