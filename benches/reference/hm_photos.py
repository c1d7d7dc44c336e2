"""What the Python reference benches share: the first N H&M photos of articles.csv that exist,
and the preprocessing of EfficientNet-Lite0's reference features (PIL bicubic 224x224,
x = (p/255 - 1/2) / (1/2), channels-last float32)."""
import csv
from pathlib import Path

import numpy as np
from PIL import Image


def photo_paths(catalog, count):
    root = Path(catalog)
    paths = []
    with open(root / "articles.csv", newline="") as f:
        for row in csv.DictReader(f):
            aid = row["article_id"].zfill(10)
            path = root / "images" / aid[:3] / f"{aid}.jpg"
            if path.is_file():
                paths.append(path)
            if len(paths) == count:
                break
    return paths


def load(path):
    img = Image.open(path).convert("RGB").resize((224, 224), Image.BICUBIC)
    return (np.asarray(img, dtype=np.float32) / 255.0 - 0.5) / 0.5
