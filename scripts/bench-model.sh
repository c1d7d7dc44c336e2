#!/usr/bin/env bash
# The seed model: one training step (batch 8) and inference (batch 32) at 192x128 and
# 384x256, lookbook (burn-flex + our conv/pool kernels) vs PyTorch on the same machine,
# same run, same thread count. Prints each side and the ratio (>1 = lookbook faster).
#   scripts/bench-model.sh [THREADS] [REPEATS]
# Needs PyTorch for the reference side: PYTHON=/path/to/python with torch installed
# (default python3; `pip install torch numpy` if it lacks them).
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
repeats=${2:-5}
python=${PYTHON:-python3}
"$python" -c 'import torch' 2>/dev/null || "$python" -m pip install --quiet torch numpy
out=$(mktemp -d)
RAYON_NUM_THREADS=$threads cargo bench -q -p lookbook-model --bench seed -- --repeats "$repeats" | tee "$out/rust.txt"
"$python" benches/reference/seed_model.py --threads "$threads" --repeats "$repeats" | tee "$out/torch.txt"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), torch $("$python" -c 'import torch; print(torch.__version__)')"
"$python" - "$out" <<'PY'
import re, sys
from pathlib import Path
def read(name):
    rows = {}
    for line in Path(sys.argv[1], name).read_text().splitlines():
        m = re.search(r"size=(\S+) threads=\S+ (?:device=\S+ )?mode=(\w+) batch=(\d+) (\w+)=([\d.]+)", line)
        if m:
            rows[(m[1], m[2])] = float(m[5])
    return rows
ours, torch = read("rust.txt"), read("torch.txt")
print("| size (HxW) | what | lookbook | PyTorch | lookbook speed / PyTorch |")
print("|---|---|---|---|---|")
for (size, mode), value in ours.items():
    ref = torch[(size, mode)]
    if mode == "train":
        print(f"| {size} | train step, batch 8 | {value:.2f} s | {ref:.2f} s | {ref / value:.2f}x |")
    else:
        print(f"| {size} | inference, batch 32 | {value:.1f} img/s | {ref:.1f} img/s | {value / ref:.2f}x |")
PY
