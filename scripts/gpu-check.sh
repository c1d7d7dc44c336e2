#!/usr/bin/env bash
# The CUDA check of issue #3, in two halves, because the GPU machine has no Rust toolchain
# and no network, and only 64 MiB travel with the working tree:
#
#   scripts/gpu-check.sh prepare [DATA_DIR] [N]   (here) build `lookbook` with --features cuda
#       (~28 min on 2 cores), strip it (41 MB) into .gpu/lookbook, and copy N photos of DATA_DIR
#       (default ../shared/data/hm, 800, ~14 MB) with their articles.csv rows into .gpu/hm
#       (.gpu/ is git-ignored; it must stay under the 64 MiB a device call carries).
#   scripts/gpu-check.sh run [EPOCHS]             (on the GPU machine, .gpu carried) train
#       configs/seed.toml on .gpu/hm with --device cuda for EPOCHS epochs (default 20:
#       ~560 train images at batch 64 ≈ 9 steps an epoch, ~180 steps), logging img/s to
#       $OUT/gpu-train.log; then the PyTorch reference of the same model on the GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
prepare)
    data=$(realpath "${2:-../shared/data/hm}")
    n=${3:-800}
    cargo build --release --locked -p lookbook --features cuda
    rm -rf .gpu && mkdir -p .gpu/hm/images
    strip -o .gpu/lookbook target/release/lookbook
    python3 - "$data" "$n" .gpu/hm <<'PY'
import csv, shutil, sys
from pathlib import Path
data, n, out = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
photos = sorted((data / "images").rglob("*.jpg"))[:n]
ids = {p.stem for p in photos}
for p in photos:
    (out / "images" / p.parent.name).mkdir(parents=True, exist_ok=True)
    shutil.copy(p, out / "images" / p.parent.name / p.name)
with open(data / "articles.csv", newline="") as src, open(out / "articles.csv", "w", newline="") as dst:
    rows = csv.reader(src)
    writer = csv.writer(dst)
    writer.writerow(next(rows))
    for row in rows:
        if row[0].zfill(10) in ids:
            writer.writerow(row)
print(f"{len(photos)} photos in {out}")
PY
    du -sh .gpu
    ;;
run)
    epochs=${2:-20}
    out=${OUT:-/tmp/gpu-check}
    mkdir -p "$out"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
    start=$(date +%s)
    .gpu/lookbook train --catalog .gpu/hm --config configs/seed.toml --out /tmp/gpu-run \
        --epochs "$epochs" --device cuda 2>&1 | tee "$out/gpu-train.log"
    echo "wall: $(( $(date +%s) - start )) s for $epochs epochs" | tee -a "$out/gpu-train.log"
    cp /tmp/gpu-run/metrics.csv /tmp/gpu-run/curves.png "$out/" 2>/dev/null || true
    python3 benches/reference/seed_model.py --device cuda --sizes 384x256 --train-batch 64 --infer-batch 64 \
        | tee "$out/torch-gpu.txt"
    ;;
*)
    echo "usage: scripts/gpu-check.sh prepare [DATA_DIR] [N] | run [EPOCHS]" >&2
    exit 2
    ;;
esac
