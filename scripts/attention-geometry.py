#!/usr/bin/env python3
"""Where should the garment-framed attention steps start? Geometry only, no model.

On the validation split of the H&M catalogue (never the test split), fixed boxes at the
garment box's quadrant centres pulled in to ±a, at relative half-size s, are measured as
`lookbook eval --protocol attention` measures a model's steps: share of boxes mostly garment,
share of the garment covered by their union, and the IoU of neighbouring boxes. The garment
mask is lookbook's (imaging/src/garment.rs): border median colour, > 30 in a channel, 80% of
the border plain, the box trimmed by 0.5% of garment pixels per side.

    pip install numpy pillow xxhash
    scripts/attention-geometry.py [../shared/data/hm] [photos=400]
"""
import csv
import itertools
import sys

import numpy as np
import xxhash
from PIL import Image

root = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/hm"
limit = int(sys.argv[2]) if len(sys.argv) > 2 else 400


def split_of(item_id):
    # lookbook_catalog::split_for_item with the default 70/10/20 fractions.
    u = (xxhash.xxh3_64(item_id.encode()).intdigest() % 1_000_000) / 1_000_000
    return "train" if u < 0.7 else "val" if u < 0.8 else "test"


def mask_of(a):
    border = np.concatenate([a[:2].reshape(-1, 3), a[-2:].reshape(-1, 3), a[:, :2].reshape(-1, 3), a[:, -2:].reshape(-1, 3)])
    background = np.median(border, axis=0).astype(int)
    if (np.abs(border.astype(int) - background) <= 30).all(1).mean() < 0.8:
        return None
    mask = (np.abs(a.astype(int) - background) > 30).any(2)
    return mask if mask.mean() >= 0.01 else None


def bounds(mask):
    trim = mask.sum() // 200

    def span(counts):
        lo = np.searchsorted(np.cumsum(counts), trim, side="right")
        hi = len(counts) - 1 - np.searchsorted(np.cumsum(counts[::-1]), trim, side="right")
        return lo, hi + 1

    (x0, x1), (y0, y1) = span(mask.sum(0)), span(mask.sum(1))
    return x0, y0, x1, y1


rows = [r for r in csv.DictReader(open(f"{root}/articles.csv")) if split_of(r["product_code"]) == "val"]
masks = []
for r in rows[:limit]:
    a = np.asarray(Image.open(f"{root}/images/{r['article_id'][:3]}/{r['article_id']}.jpg").convert("RGB"))
    m = mask_of(a)
    if m is not None:
        masks.append((m, bounds(m)))
print(f"{min(limit, len(rows))} validation photos, {len(masks)} with a garment mask")
for a, s in itertools.product([0.3, 0.35, 0.4, 0.45, 0.5], [0.4, 0.45, 0.5]):
    scores = []
    for m, (x0, y0, x1, y1) in masks:
        gw, gh = x1 - x0, y1 - y0
        covered = np.zeros_like(m)
        mostly = 0
        for cx, cy in [(-a, -a), (a, -a), (-a, a), (a, a)]:
            bx0, bx1 = round(x0 + (cx - s + 1) / 2 * gw), round(x0 + (cx + s + 1) / 2 * gw)
            by0, by1 = round(y0 + (cy - s + 1) / 2 * gh), round(y0 + (cy + s + 1) / 2 * gh)
            inside = m[by0:by1, bx0:bx1]
            mostly += inside.size > 0 and inside.mean() > 0.5
            covered[by0:by1, bx0:bx1] = True
        scores.append((mostly / 4, (m & covered).sum() / m.sum()))
    scores = np.array(scores)
    overlap = max(0.0, 2 * s - 2 * a)
    iou = overlap * 2 * s / (2 * (2 * s) ** 2 - overlap * 2 * s)
    print(f"a={a} s={s}: mostly garment {scores[:, 0].mean():.3f}  coverage {scores[:, 1].mean():.3f}  neighbour IoU {iou:.2f}")
