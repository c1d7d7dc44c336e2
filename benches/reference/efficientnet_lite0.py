#!/usr/bin/env python3
"""EfficientNet-Lite0 embedding throughput in PyTorch, measured the way
`cargo bench -p lookbook-embed --bench pretrained` measures lookbook's: the same photos
(the first N of the H&M catalogue's articles.csv that exist), decoded and resized with PIL
(bicubic, 224x224, as the reference features), normalised, batched, forward to the pooled
1280-d features; decode runs on a pool of THREADS threads ahead of the model, the model on
torch's THREADS intra-op threads.

    python3 benches/reference/efficientnet_lite0.py --pth PATH [--images 512] [--threads 2]

Prints `efficientnet-lite0 side=pytorch threads=T images=N img_per_s=X` and the cosine of
its first photo's feature with lookbook's reference file when given --reference.
"""
import argparse
import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from hm_photos import load, photo_paths

STAGES = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
          (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)]


class SameConv(nn.Conv2d):
    """TensorFlow 'same' padding, the extra pixel at the bottom/right."""

    def forward(self, x):
        pads = []
        for n, k, s in zip(x.shape[-2:][::-1], self.kernel_size[::-1], self.stride[::-1]):
            total = max((math.ceil(n / s) - 1) * s + k - n, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, 1, self.groups)


def conv_bn(cin, cout, k, s=1, groups=1):
    return nn.Sequential(SameConv(cin, cout, k, s, groups=groups, bias=False), nn.BatchNorm2d(cout, eps=1e-3))


class Block(nn.Module):
    def __init__(self, cin, cout, k, s, e):
        super().__init__()
        hidden = cin * e
        self.expand = conv_bn(cin, hidden, 1) if e != 1 else None
        self.depthwise = conv_bn(hidden, hidden, k, s, groups=hidden)
        self.project = conv_bn(hidden, cout, 1)
        self.residual = s == 1 and cin == cout

    def forward(self, x):
        y = F.relu6(self.expand(x)) if self.expand is not None else x
        y = self.project(F.relu6(self.depthwise(y)))
        return y + x if self.residual else y


class EfficientNetLite0(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = conv_bn(3, 32, 3, 2)
        blocks, cin = [], 32
        for repeats, k, s, e, cout in STAGES:
            for r in range(repeats):
                blocks.append(Block(cin, cout, k, s if r == 0 else 1, e))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.head = conv_bn(320, 1280, 1)

    def forward(self, x):
        x = self.blocks(F.relu6(self.stem(x)))
        return F.relu6(self.head(x)).mean((2, 3))

    def load_lukemelas(self, state):
        def put(seq, conv, bn):
            seq[0].weight.data.copy_(state[f"{conv}.weight"])
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(seq[1], name).data.copy_(state[f"{bn}.{name}"])
        put(self.stem, "_conv_stem", "_bn0")
        for i, block in enumerate(self.blocks):
            p = f"_blocks.{i}"
            if block.expand is not None:
                put(block.expand, f"{p}._expand_conv", f"{p}._bn0")
            put(block.depthwise, f"{p}._depthwise_conv", f"{p}._bn1")
            put(block.project, f"{p}._project_conv", f"{p}._bn2")
        put(self.head, "_conv_head", "_bn1")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pth", required=True)
    parser.add_argument("--catalog", default="../shared/data/hm")
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--reference")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(args.catalog)
    paths = photo_paths(root, args.images)
    model = EfficientNetLite0().eval()
    model.load_lukemelas(torch.load(args.pth, map_location="cpu"))
    if args.reference:
        ref = json.load(open(args.reference))["images"][0]
        with torch.no_grad():
            x = torch.from_numpy(load(root / ref["path"])).permute(2, 0, 1)[None]
            ours = model(x)[0].numpy()
        theirs = np.array(ref["pooled_feature_1280"])
        print(f"check: cosine with the reference feature {ours @ theirs / np.linalg.norm(ours) / np.linalg.norm(theirs):.5f}")
    batches = [paths[i:i + args.batch] for i in range(0, len(paths), args.batch)]
    with ThreadPoolExecutor(args.threads) as pool, torch.no_grad():
        model(torch.zeros(1, 3, 224, 224))  # warm-up, as the Rust side loads first
        start = time.perf_counter()
        pending = pool.map(lambda b: np.stack([load(p) for p in b]), batches)
        count = 0
        for pixels in pending:
            features = model(torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous())
            count += features.shape[0]
        elapsed = time.perf_counter() - start
    print(f"efficientnet-lite0 side=pytorch threads={args.threads} images={count} img_per_s={count / elapsed:.1f}")


if __name__ == "__main__":
    main()
