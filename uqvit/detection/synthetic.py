"""A synthetic COCO-format instance-segmentation set: squares and disks on a textured background.

Used by the tests (a fixture the metric path and every method run through) and by the
offline detection demo.  Category ids are 1 (square) and 3 (disk) on purpose: not
contiguous, so the label <-> category mapping is exercised.  Masks are COCO polygons.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

CATEGORIES = [{"id": 1, "name": "square", "supercategory": "shape"},
              {"id": 3, "name": "disk", "supercategory": "shape"}]
DISK_VERTICES = 24


def _shape(rng, size: int):
    cat = int(rng.choice([1, 3]))
    r = float(rng.uniform(0.12, 0.24) * size)
    cx, cy = rng.uniform(r + 1, size - r - 1, size=2)
    if cat == 1:
        poly = [cx - r, cy - r, cx + r, cy - r, cx + r, cy + r, cx - r, cy + r]
    else:
        t = np.arange(DISK_VERTICES) * 2 * math.pi / DISK_VERTICES
        poly = np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1).reshape(-1).tolist()
    return cat, [round(float(v), 2) for v in poly]


def make_shapes_coco(out_dir, n_images: int, size: int = 64, seed: int = 0, max_objects: int = 3,
                     name: str = "shapes") -> tuple[Path, Path]:
    """Write ``n_images`` PNGs to ``out_dir/name/`` and ``out_dir/name.json``; return (image dir, annotation file)."""
    from PIL import Image, ImageDraw
    from pycocotools import mask as mask_util

    out = Path(out_dir)
    img_dir = out / name
    img_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images, anns = [], []
    for i in range(n_images):
        bg = rng.integers(60, 120, size=(size, size, 3)).astype(np.uint8)
        im = Image.fromarray(bg)
        draw = ImageDraw.Draw(im)
        occupied = np.zeros((size, size), bool)
        for _ in range(int(rng.integers(1, max_objects + 1))):
            for _try in range(20):
                cat, poly = _shape(rng, size)
                rle = mask_util.frPyObjects([poly], size, size)
                m = mask_util.decode(mask_util.merge(rle)).astype(bool)
                if not (m & occupied).any():
                    break
            else:
                continue
            occupied |= m
            color = tuple(int(c) for c in rng.integers(150, 256, size=3))
            draw.polygon(poly, fill=color)
            x0, y0, x1, y1 = min(poly[0::2]), min(poly[1::2]), max(poly[0::2]), max(poly[1::2])
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": cat, "iscrowd": 0,
                         "segmentation": [poly], "area": float(m.sum()),
                         "bbox": [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)]})
        fn = f"{name}_{i:05d}.png"
        im.save(img_dir / fn)
        images.append({"id": i + 1, "file_name": fn, "width": size, "height": size})
    ann_file = out / f"{name}.json"
    ann_file.write_text(json.dumps({"images": images, "annotations": anns, "categories": CATEGORIES}))
    return img_dir, ann_file
