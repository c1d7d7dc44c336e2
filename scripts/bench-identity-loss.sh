#!/usr/bin/env bash
# Issue 19's identity-loss comparison on configs/quick.toml (BENCHMARKS.md, "Multi-similarity"):
# the normalised softmax as shipped, the softmax on batches grouped 4 photos to a product code
# (the sampler alone), multi-similarity on those batches, multi-similarity plus the softmax, and
# multi-similarity on batches grouped 2 to a code — 3 epochs each, validation top-k by epoch
# from each run's metrics.csv.
#   scripts/bench-identity-loss.sh [RUNS_DIR]    # default runs/; ~6-9 min per run on 2 cores
# The trunk cache of the first run is shared (the losses do not change it). Needs
# scripts/setup-weights.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-runs}
hm=../shared/data/hm
cargo build --release --locked -q -p lookbook
bin=target/release/lookbook
variants=$(mktemp -d)
trap 'rm -rf "$variants"' EXIT
cp configs/quick.toml "$variants/quick.toml"
printf '\n[data]\nphotos_per_identity = 4\n' | cat configs/quick.toml - >"$variants/quick-grouped.toml"
sed 's/^identity_scale = 16.0/identity_scale = 16.0\nidentity_kind = "multi-similarity"/' \
    "$variants/quick-grouped.toml" >"$variants/quick-ms.toml"
grep -q multi-similarity "$variants/quick-ms.toml" || { echo "configs/quick.toml changed: fix this script" >&2; exit 1; }
sed 's/"multi-similarity"/"multi-similarity+softmax"/' "$variants/quick-ms.toml" >"$variants/quick-ms-softmax.toml"
sed 's/^photos_per_identity = 4/photos_per_identity = 2/' "$variants/quick-ms.toml" >"$variants/quick-ms-k2.toml"
for name in quick quick-grouped quick-ms quick-ms-softmax quick-ms-k2; do
    run=$runs/$name
    if [ ! -f "$run/latest.json" ]; then
        [ -f "$runs/quick/trunk-cache.bin" ] && [ "$name" != quick ] && mkdir -p "$run" \
            && cp "$runs/quick/trunk-cache.bin" "$run/"
        echo "== training $name"
        ( time "$bin" -q train --catalog "$hm" --config "$variants/$name.toml" --out "$run" ) 2>&1 | tail -4
    fi
    echo "== $name: validation by epoch (identity loss, top-1, top-5, top-10)"
    cut -d, -f1,11,16,17,18 "$run/metrics.csv"
done
