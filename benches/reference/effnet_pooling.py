#!/usr/bin/env python3
"""Exploration behind configs/effnet-cpu.toml (issue 6), in PyTorch for speed: the ImageNet
baseline on H&M's test split with average vs generalised-mean (GeM) pooling at 384x256, and a
linear projection of the pooled head output trained with the identity loss (normalised
softmax over one proxy per training product code), optionally fine-tuning the head.

Train/val features come from a lookbook run's trunk cache (`runs/NAME/trunk-cache.bin`: a JSON
header line, then f32 rows [h, w, 320]); test-split trunk features are computed here with
PyTorch (Pillow bicubic 256x384) and saved to --test-trunk for reruns (~10 min on 2 cores).

    python3 benches/reference/effnet_pooling.py --cache runs/effnet/trunk-cache.bin \
        --pth ~/.cache/lookbook/weights/pip/.../efficientnet-lite0-57934424.pth \
        [--gem 3] [--epochs 10] [--batch 32] [--head-lr 0]
"""
import argparse
import csv
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import xxhash
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from efficientnet_lite0 import EfficientNetLite0  # noqa: E402


def catalogue(root):
    """(image path, item id) per articles.csv row with a photo, as lookbook's H&M reader."""
    entries = []
    with open(root / "articles.csv", newline="") as f:
        for row in csv.DictReader(f):
            aid = row["article_id"].zfill(10)
            path = f"images/{aid[:3]}/{aid}.jpg"
            if (root / path).is_file():
                entries.append((path, row["product_code"].lstrip("0") or "0"))
    return entries


def split(item_id):
    """lookbook-catalog's split: XXH3-64 of the item id onto [0, 1), 70/10/20."""
    u = (xxhash.xxh3_64_intdigest(item_id.encode()) % 1_000_000) / 1e6
    return "train" if u < 0.7 else ("val" if u < 0.8 else "test")


def top_k(features, items, ks=(1, 5, 10, 20, 30, 50)):
    """lookbook eval's product-code protocol: every photo of an item with another photo queries
    the rest of the split; a hit = the same item among the k nearest (cosine)."""
    f = F.normalize(features, dim=1)
    items = np.array(items)
    sims = f @ f.T
    sims.fill_diagonal_(-9)
    order = sims.argsort(1, descending=True)[:, : max(ks)].numpy()
    queries = [i for i in range(len(items)) if (items == items[i]).sum() > 1]
    return " ".join(f"{k}:{np.mean([(items[order[i, :k]] == items[i]).any() for i in queries]):.3f}" for k in ks)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cache", required=True)
    p.add_argument("--pth", required=True)
    p.add_argument("--catalog", default="../shared/data/hm")
    p.add_argument("--test-trunk", default="target/effnet-test-trunk.npy")
    p.add_argument("--gem", type=float, default=1.0)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--head-lr", type=float, default=0.0)
    p.add_argument("--scale", type=float, default=16.0)
    p.add_argument("--proxy-init", type=float, default=0.01)
    a = p.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    root = Path(a.catalog)
    entries = catalogue(root)
    raw = open(a.cache, "rb").read()
    end = raw.index(b"\n")
    header = json.loads(raw[:end])
    cached = torch.from_numpy(np.frombuffer(raw[end + 1 :], dtype="<f4").reshape(len(header["items"]), *header["shape"]).copy())
    items = [entries[i][1] for i in header["items"]]
    train = [r for r, item in enumerate(items) if split(item) == "train"]

    net = EfficientNetLite0().eval()
    net.load_lukemelas(torch.load(a.pth, map_location="cpu"))
    test_rows = [i for i, (_, item) in enumerate(entries) if split(item) == "test"]
    if os.path.exists(a.test_trunk):
        test = torch.from_numpy(np.load(a.test_trunk))
    else:
        def load(path):
            img = Image.open(root / path).convert("RGB").resize((256, 384), Image.BICUBIC)
            return (np.asarray(img, dtype=np.float32) / 255 - 0.5) / 0.5
        chunks = []
        with torch.no_grad():
            for b in range(0, len(test_rows), 32):
                x = torch.from_numpy(np.stack([load(entries[i][0]) for i in test_rows[b : b + 32]])).permute(0, 3, 1, 2)
                chunks.append(net.blocks(F.relu6(net.stem(x.contiguous()))).permute(0, 2, 3, 1))
        test = torch.cat(chunks)
        np.save(a.test_trunk, test.numpy())
    test_items = [entries[i][1] for i in test_rows]

    # The head conv with batch-norm folded, as lookbook's FoldedConv: [.., 320] -> [.., 1280].
    conv, bn = net.head[0], net.head[1]
    s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    head_w = torch.nn.Parameter((conv.weight.reshape(1280, 320) * s[:, None]).detach())
    head_b = torch.nn.Parameter((bn.bias - bn.running_mean * s).detach())

    def pooled(x):
        h = torch.clamp(x @ head_w.T + head_b, 0, 6)
        return h.clamp_min(1e-6).pow(a.gem).mean((1, 2)).pow(1 / a.gem)

    def pool_all(x):
        with torch.no_grad():
            return torch.cat([pooled(x[i : i + 256]) for i in range(0, len(x), 256)])

    print(f"untrained, pooling p={a.gem}: test {top_k(pool_all(test), test_items)}", flush=True)
    codes = sorted({items[r] for r in train})
    target = torch.tensor([codes.index(items[r]) for r in train])
    projection = torch.nn.Linear(1280, 256)
    proxies = torch.nn.Parameter(torch.randn(len(codes), 256) * a.proxy_init)
    groups = [{"params": list(projection.parameters()) + [proxies]}]
    if a.head_lr > 0:
        groups.append({"params": [head_w, head_b], "lr": a.head_lr})
    opt = torch.optim.Adam(groups, lr=a.lr)
    x_train = cached[train]
    fixed = None if a.head_lr > 0 else pool_all(x_train)
    for epoch in range(a.epochs):
        perm = torch.randperm(len(train))
        total = 0.0
        for b in range(0, len(train), a.batch):
            ix = perm[b : b + a.batch]
            g = pooled(x_train[ix]) if fixed is None else fixed[ix]
            z = F.normalize(projection(g), dim=1)
            loss = F.cross_entropy(a.scale * z @ F.normalize(proxies, dim=1).T, target[ix])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(ix)
        with torch.no_grad():
            result = top_k(projection(pool_all(test)), test_items)
        print(f"epoch {epoch + 1}: identity loss {total / len(train):.3f}, test {result}", flush=True)


if __name__ == "__main__":
    main()
