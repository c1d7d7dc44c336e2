#!/usr/bin/env python3
"""The same work as lookbook's decode benchmark, with Pillow + NumPy.

For each of the first N JPEGs (sorted by path) under DATA_DIR/images: decode, convert
to RGB, resize keeping the aspect ratio with antialiased bilinear (torchvision's
Resize), paste centred on a white H x W canvas, normalise with the ImageNet mean/std
to a CHW float32 array. One process per worker (threads=2 uses a 2-process pool).

    python3 benches/reference/pillow_decode.py [DATA_DIR] [N] [--draft]

--stages prints, instead, where Pillow's time goes per image at 384x256: decode,
decode+resize, and the NumPy normalisation alone.

--draft lets libjpeg decode at 1/2, 1/4 or 1/8 scale first (Pillow's Image.draft),
the same DCT-domain shortcut lookbook takes.
"""
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
DRAFT = "--draft" in sys.argv


def load(args):
    path, h, w = args
    im = Image.open(path)
    if DRAFT:
        im.draft("RGB", (w, h))
    im = im.convert("RGB")
    sw, sh = im.size
    scale = min(w / sw, h / sh)
    nw, nh = max(1, min(w, round(sw * scale))), max(1, min(h, round(sh * scale)))
    if (nw, nh) != (sw, sh):
        im = im.resize((nw, nh), Image.Resampling.BILINEAR)
    if (nw, nh) != (w, h):
        canvas = Image.new("RGB", (w, h), (255, 255, 255))
        canvas.paste(im, ((w - nw) // 2, (h - nh) // 2))
        im = canvas
    x = np.asarray(im, dtype=np.float32) / 255.0
    x = (x - MEAN) / STD
    return np.ascontiguousarray(x.transpose(2, 0, 1)).shape


def stages(images):
    n = len(images)
    start = time.perf_counter()
    for p in images:
        Image.open(p).load()
    decoded = time.perf_counter()
    for p in images:
        Image.open(p).convert("RGB").resize((256, 384), Image.Resampling.BILINEAR)
    resized = time.perf_counter()
    im = Image.open(images[0]).convert("RGB").resize((256, 384))
    for _ in range(n):
        x = np.asarray(im, dtype=np.float32) / 255.0
        np.ascontiguousarray(((x - MEAN) / STD).transpose(2, 0, 1))
    normalised = time.perf_counter()
    print(f"pillow stages over {n} images (ms/image): decode {(decoded - start) / n * 1e3:.2f}, "
          f"decode+resize {(resized - decoded) / n * 1e3:.2f}, normalise {(normalised - resized) / n * 1e3:.2f}")


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    root = Path(args[0]) if args else Path(__file__).resolve().parents[2] / "../shared/data/hm"
    n = int(args[1]) if len(args) > 1 else 2000
    images = sorted(str(p) for p in (root / "images").rglob("*.jpg"))[:n]
    for p in images:
        Path(p).read_bytes()
    if "--stages" in sys.argv:
        stages(images)
        return
    tag = "pillow-draft" if DRAFT else "pillow"
    for h, w in [(384, 256), (192, 128), (96, 64)]:
        for threads in [1, 2]:
            work = [(p, h, w) for p in images]
            start = time.perf_counter()
            if threads == 1:
                for item in work:
                    load(item)
            else:
                with Pool(threads) as pool:
                    list(pool.imap(load, work, chunksize=32))
            secs = time.perf_counter() - start
            print(f"{tag} size={h}x{w} threads={threads} images={len(images)} "
                  f"seconds={secs:.3f} img_per_s={len(images) / secs:.1f}", flush=True)


if __name__ == "__main__":
    main()
