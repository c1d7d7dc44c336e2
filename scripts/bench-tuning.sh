#!/usr/bin/env bash
# Issue 19's fine-tuning rows of BENCHMARKS.md ("Fine-tuning the trunk's last blocks"): trains
# configs/effnet-tuned-cpu.toml and its variants (no grey photos; Proxy-Anchor instead of the
# softmax; multi-similarity over batches grouped 4 photos to a product code; every photo grey;
# four trunk blocks tuned instead of two; grey photos with their brightness jittered by a gamma;
# the learning rates decayed along a cosine),
# then evaluates each on H&M's test split against the whole catalogue and on Myntra.
#   scripts/bench-tuning.sh [RUNS_DIR]        # default runs/; ~45 min of training per run on 2 cores
# A run folder that already holds a checkpoint is not trained again. Needs scripts/setup-weights.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-runs}
hm=../shared/data/hm
myntra=../shared/data/myntra
cargo build --release --locked -q -p lookbook
bin=target/release/lookbook
mkdir -p "$runs"
variants=$(mktemp -d)
trap 'rm -rf "$variants"' EXIT
cp configs/effnet-tuned-cpu.toml "$variants/tuned.toml"
sed 's/^greyscale = 0.5/greyscale = 0.0/' configs/effnet-tuned-cpu.toml >"$variants/tuned-colour.toml"
sed 's/^identity_scale = 16.0/identity_kind = "proxy-anchor"\nidentity_scale = 32.0\nidentity_margin = 0.1/' \
    configs/effnet-tuned-cpu.toml >"$variants/tuned-pa.toml"
sed 's/^identity_scale = 16.0/identity_scale = 16.0\nidentity_kind = "multi-similarity"/' \
    configs/effnet-tuned-cpu.toml >"$variants/tuned-ms.toml"
printf '\n[data]\nphotos_per_identity = 4\n' >>"$variants/tuned-ms.toml"
sed 's/^greyscale = 0.5/greyscale = 1.0/' configs/effnet-tuned-cpu.toml >"$variants/tuned-grey.toml"
# Four blocks fine-tuned instead of two (the cache still 192×12×8, after block 12).
sed 's/^tuned_blocks = 2/tuned_blocks = 4/' configs/effnet-tuned-cpu.toml >"$variants/tuned-4blocks.toml"
# Grey rows brightened or darkened by a gamma in [1/3, 3], one per photo (augment.grey_gamma).
sed 's/^greyscale = 0.5/greyscale = 0.5\ngrey_gamma = 3.0/' configs/effnet-tuned-cpu.toml >"$variants/tuned-gamma.toml"
# The rates decayed to 0 along half a cosine over the 6 epochs (optimizer.schedule).
sed 's/^epochs = 6/epochs = 6\nschedule = "cosine"/' configs/effnet-tuned-cpu.toml >"$variants/tuned-cosine.toml"
grep -q '^greyscale = 0.0' "$variants/tuned-colour.toml" && grep -q proxy-anchor "$variants/tuned-pa.toml" \
    && grep -q multi-similarity "$variants/tuned-ms.toml" && grep -q '^greyscale = 1.0' "$variants/tuned-grey.toml" \
    && grep -q '^tuned_blocks = 4' "$variants/tuned-4blocks.toml" && grep -q '^grey_gamma = 3.0' "$variants/tuned-gamma.toml" \
    && grep -q '^schedule = "cosine"' "$variants/tuned-cosine.toml" \
    || { echo "the ablations no longer apply to configs/effnet-tuned-cpu.toml" >&2; exit 1; }
for name in tuned tuned-colour tuned-pa tuned-ms tuned-grey tuned-4blocks tuned-gamma tuned-cosine; do
    run=$runs/$name
    if [ ! -f "$run/latest.json" ]; then
        # The same frozen-block cache serves every variant with grey rows: copy it rather than recompute.
        [ -f "$runs/tuned/trunk-cache.bin" ] && { [ "$name" = tuned-pa ] || [ "$name" = tuned-ms ] || [ "$name" = tuned-grey ] || [ "$name" = tuned-cosine ]; } && mkdir -p "$run" \
            && cp "$runs/tuned/trunk-cache.bin" "$run/"
        echo "== training $name"
        ( time "$bin" train --catalog "$hm" --config "$variants/$name.toml" --out "$run" ) 2>&1 | tail -4
    fi
    echo "== $name: validation by epoch (top-1, top-10)"
    cut -d, -f1,16,18 "$run/metrics.csv"
    echo "== $name: H&M test, gallery all"
    "$bin" eval --model "$run" --catalog "$hm" --protocol product-code --split test --gallery all --ks 1,5,10,20,50
    # A model trained on grey photos alone is asked in grey too (scripts/bench-views.sh has both views of every run).
    if [ "$name" = tuned-grey ]; then
        "$bin" eval --model "$run" --catalog "$hm" --protocol product-code --split test --gallery all --ks 1,5,10,20,50 \
            --views grey
    fi
done
echo "== tuned: H&M test, the split's own gallery"
"$bin" eval --model "$runs/tuned" --catalog "$hm" --protocol product-code --split test --ks 1,5,10,20,50
echo "== tuned: Myntra (never trained on), articleType"
"$bin" eval --model "$runs/tuned" --catalog "$myntra" --protocol category --attribute articleType --split all --ks 1,10
