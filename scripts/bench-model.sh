#!/usr/bin/env bash
# The seed model: one training step (batch 8) and inference (batch 32) at 192x128 and
# 384x256, lookbook (burn-flex + our conv/pool kernels) vs PyTorch on the same machine,
# same run, same thread count. Prints each side and the ratio (>1 = lookbook faster).
#   scripts/bench-model.sh [THREADS] [REPEATS] [ROUNDS]
# The machine is shared and noisy: the two sides alternate ROUNDS times (default 3) and the
# table gives the median of each side and the range of the per-round ratios.
# Needs PyTorch for the reference side: PYTHON=/path/to/python with torch installed
# (default python3; `pip install torch numpy` if it lacks them).
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
repeats=${2:-5}
rounds=${3:-3}
python=${PYTHON:-python3}
"$python" -c 'import torch' 2>/dev/null || "$python" -m pip install --quiet torch numpy
out=$(mktemp -d)
cargo bench -q -p lookbook-model --bench seed --no-run
for round in $(seq "$rounds"); do
    echo "round $round"
    RAYON_NUM_THREADS=$threads cargo bench -q -p lookbook-model --bench seed -- --repeats "$repeats" | tee "$out/rust-$round.txt"
    "$python" benches/reference/seed_model.py --threads "$threads" --repeats "$repeats" | tee "$out/torch-$round.txt"
done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), torch $("$python" -c 'import torch; print(torch.__version__)')"
"$python" - "$out" "$rounds" <<'PY'
import re, statistics, sys
from pathlib import Path
def read(name):
    rows = {}
    for line in Path(sys.argv[1], name).read_text().splitlines():
        m = re.search(r"size=(\S+) threads=\S+ (?:device=\S+ )?mode=(\w+) batch=(\d+) (\w+)=([\d.]+)", line)
        if m:
            rows[(m[1], m[2])] = float(m[5])
    return rows
rounds = int(sys.argv[2])
ours = [read(f"rust-{r}.txt") for r in range(1, rounds + 1)]
torch = [read(f"torch-{r}.txt") for r in range(1, rounds + 1)]
print(f"| size (HxW) | what | lookbook (median of {rounds}) | PyTorch (median of {rounds}) | speed ratio, medians | per-round ratios |")
print("|---|---|---|---|---|---|")
for key in ours[0]:
    size, mode = key
    a = [o[key] for o in ours]
    b = [t[key] for t in torch]
    # >1 = lookbook faster: time ratio for steps, rate ratio for inference.
    ratio = lambda x, y: (y / x) if mode == "train" else (x / y)
    per_round = sorted(ratio(x, y) for x, y in zip(a, b))
    ma, mb = statistics.median(a), statistics.median(b)
    if mode == "train":
        print(f"| {size} | train step, batch 8 | {ma:.2f} s | {mb:.2f} s | {ratio(ma, mb):.2f}x | {per_round[0]:.2f}-{per_round[-1]:.2f}x |")
    else:
        print(f"| {size} | inference, batch 32 | {ma:.1f} img/s | {mb:.1f} img/s | {ratio(ma, mb):.2f}x | {per_round[0]:.2f}-{per_round[-1]:.2f}x |")
PY
