#!/usr/bin/env bash
# Decode + letterbox + normalise throughput: lookbook vs Pillow on the same images,
# same machine, same run. Prints each side's img/s and the ratio per size/threads.
#   scripts/bench-decode.sh [DATA_DIR] [N]
set -euo pipefail
cd "$(dirname "$0")/.."
data=$(realpath "${1:-../shared/data/hm}")
n=${2:-2000}
python3 -c 'import PIL, numpy' 2>/dev/null || python3 -m pip install --quiet pillow numpy
out=$(mktemp -d)
cargo bench -q -p lookbook-imaging --bench decode -- "$data" "$n" | tee "$out/rust.txt"
python3 benches/reference/pillow_decode.py "$data" "$n" | tee "$out/pillow.txt"
python3 benches/reference/pillow_decode.py "$data" "$n" --draft | tee "$out/draft.txt"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), Pillow $(python3 -c 'import PIL; print(PIL.__version__)')"
python3 - "$out" <<'PY'
import re, sys
from pathlib import Path
def read(name):
    rows = {}
    for line in Path(sys.argv[1], name).read_text().splitlines():
        m = re.search(r"size=(\S+) threads=(\d+) .* img_per_s=([\d.]+)", line)
        if m:
            rows[(m[1], int(m[2]))] = float(m[3])
    return rows
rust, pil, draft = read("rust.txt"), read("pillow.txt"), read("draft.txt")
print("| size (HxW) | threads | lookbook img/s | Pillow img/s | ratio | Pillow+draft img/s | ratio |")
print("|---|---|---|---|---|---|---|")
for key in rust:
    print(f"| {key[0]} | {key[1]} | {rust[key]:.0f} | {pil[key]:.0f} | {rust[key]/pil[key]:.2f}x "
          f"| {draft[key]:.0f} | {rust[key]/draft[key]:.2f}x |")
PY
