#!/usr/bin/env python3
"""How spread out an index's embeddings are: cosine between random pairs, and how many
principal components hold 50/80/90/95% of the variance (of the L2-normalised vectors).
   python3 scripts/embedding-stats.py INDEX_DIR      (needs numpy)"""
import json
import sys
from pathlib import Path

import numpy as np

index = Path(sys.argv[1])
manifest = json.loads((index / "manifest.json").read_text())
dim = manifest["info"]["dim"]
vectors = np.fromfile(index / manifest["vectors"]["name"], dtype="<f4").reshape(-1, dim)
unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
pairs = np.random.default_rng(0).integers(0, len(unit), (20000, 2))
cosine = (unit[pairs[:, 0]] * unit[pairs[:, 1]]).sum(1)
print(f"{len(unit)} vectors of {dim}: cosine of random pairs mean {cosine.mean():.4f}, "
      f"p5 {np.percentile(cosine, 5):.4f}, p95 {np.percentile(cosine, 95):.4f}")
centred = unit - unit.mean(0)
variance = np.linalg.svd(centred, compute_uv=False) ** 2
share = np.cumsum(variance) / variance.sum()
print("principal components for 50/80/90/95% of the variance:",
      [int(np.searchsorted(share, q)) + 1 for q in (0.5, 0.8, 0.9, 0.95)],
      f"(total variance {(centred ** 2).sum(1).mean():.5f})")
