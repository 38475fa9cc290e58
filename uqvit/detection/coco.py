"""COCO-format data and metrics (pycocotools).

:func:`load_coco` checks that an annotation file and an image folder belong together
before anything runs; :func:`coco_results` turns detector outputs into COCO result
records; :func:`coco_ap` scores them with ``COCOeval`` for boxes and masks.
"""
from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import UqvitError
from .configs import UNANNOTATED  # noqa: F401  (re-exported)


class CocoError(UqvitError, ValueError):
    pass


def _quiet():
    return contextlib.redirect_stdout(io.StringIO())


@dataclass
class CocoSet:
    images_dir: Path
    ann_file: Path
    coco: object
    image_ids: list
    cat_ids: list  # sorted category ids; model label i >= 1 is cat_ids[i - 1]
    notes: list = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.cat_ids) + 1

    def path(self, image_id: int) -> Path:
        return self.images_dir / self.coco.imgs[image_id]["file_name"]

    def load(self, image_id: int) -> torch.Tensor:
        return load_image(self.path(image_id))

    def target(self, image_id: int) -> dict:
        """Training target (crowd regions left out): xyxy boxes, labels 1..K, binary masks."""
        anns = [a for a in self.coco.imgToAnns[image_id] if not a.get("iscrowd", 0)]
        lab = {c: i + 1 for i, c in enumerate(self.cat_ids)}
        boxes = torch.tensor([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                              for a in anns], dtype=torch.float32).reshape(-1, 4)
        masks = torch.from_numpy(np.stack([self.coco.annToMask(a) for a in anns])) if anns else \
            torch.zeros((0, self.coco.imgs[image_id]["height"], self.coco.imgs[image_id]["width"]), dtype=torch.uint8)
        return {"boxes": boxes, "labels": torch.tensor([lab[a["category_id"]] for a in anns], dtype=torch.int64),
                "masks": masks}


def load_coco(images_dir, ann_file, unannotated: str = "error", limit: int | None = None,
              check_sizes: bool = True) -> CocoSet:
    """Open a COCO annotation file and check it against the images in ``images_dir``."""
    from pycocotools.coco import COCO

    images_dir, ann_file = Path(images_dir), Path(ann_file)
    if unannotated not in UNANNOTATED:
        raise CocoError(f"unannotated={unannotated!r}: choose one of {', '.join(UNANNOTATED)}")
    if not images_dir.is_dir():
        raise CocoError(f"image folder {images_dir} does not exist")
    if not ann_file.is_file():
        raise CocoError(f"annotation file {ann_file} does not exist")
    try:
        raw = json.loads(ann_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CocoError(f"{ann_file} is not a JSON file: {exc}") from None
    if not isinstance(raw, dict) or not {"images", "annotations", "categories"} <= set(raw):
        raise CocoError(f"{ann_file} is not a COCO instances file (needs 'images', 'annotations', 'categories')")
    if not raw["categories"]:
        raise CocoError(f"{ann_file} has no categories")
    img_ids = {im["id"] for im in raw["images"]}
    cat_ids = {c["id"] for c in raw["categories"]}
    for a in raw["annotations"]:
        if a.get("image_id") not in img_ids:
            raise CocoError(f"{ann_file}: annotation {a.get('id')} refers to image id {a.get('image_id')}, "
                            "which is not in its 'images' list")
        if a.get("category_id") not in cat_ids:
            raise CocoError(f"{ann_file}: annotation {a.get('id')} has category id {a.get('category_id')}, "
                            "which is not in its 'categories' list")
        bb = a.get("bbox", [])
        if len(bb) != 4 or not np.all(np.isfinite(bb)) or bb[2] <= 0 or bb[3] <= 0:
            raise CocoError(f"{ann_file}: annotation {a.get('id')} has an invalid bbox {bb} (need [x, y, w>0, h>0])")
        if "segmentation" not in a:
            raise CocoError(f"{ann_file}: annotation {a.get('id')} has no 'segmentation' (mask AP needs masks)")
    with _quiet():
        coco = COCO(str(ann_file))
    ids = sorted(coco.imgs)
    missing = [i for i in ids if not (images_dir / coco.imgs[i]["file_name"]).is_file()]
    if missing:
        raise CocoError(f"{len(missing)} of {len(ids)} images listed in {ann_file.name} are not in {images_dir} "
                        f"(first: {coco.imgs[missing[0]]['file_name']}); the annotation file does not match the "
                        "image folder: pass the folder it describes")
    notes = []
    empty = [i for i in ids if not coco.imgToAnns.get(i)]
    if empty:
        msg = (f"{len(empty)} of {len(ids)} images in {ann_file.name} have no annotations "
               f"(first: id {empty[0]}, {coco.imgs[empty[0]]['file_name']})")
        if unannotated == "error":
            raise CocoError(msg + "; pass --unannotated keep to score them as the COCO protocol does "
                            "(COCO val2017 has 48 such images) or --unannotated skip to leave them out")
        if unannotated == "skip":
            ids = [i for i in ids if i not in set(empty)]
            notes.append(msg + ": left out")
        else:
            notes.append(msg + ": kept (detections there count as false positives)")
    if limit is not None:
        ids = ids[:limit]
    if not ids:
        raise CocoError(f"{ann_file} lists no images to evaluate")
    if check_sizes:
        from PIL import Image

        for i in ids:
            info = coco.imgs[i]
            with Image.open(images_dir / info["file_name"]) as im:
                if (im.width, im.height) != (info["width"], info["height"]):
                    raise CocoError(f"{info['file_name']} is {im.width}x{im.height} but {ann_file.name} says "
                                    f"{info['width']}x{info['height']}; the annotation file does not match the images")
    return CocoSet(images_dir, ann_file, coco, ids, sorted(cat_ids), notes)


def list_images(images_dir, n: int, seed: int = 0, exclude=()) -> list[Path]:
    """``n`` images drawn (fixed seed) from a folder, e.g. a calibration split; ``exclude`` names files to avoid."""
    d = Path(images_dir)
    if not d.is_dir():
        raise CocoError(f"calibration image folder {d} does not exist")
    ex = {Path(e).resolve() for e in exclude}
    files = sorted(p for p in d.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp")
                   and p.resolve() not in ex)
    if not files:
        raise CocoError(f"no images (.jpg/.png/.bmp) in {d} to calibrate on")
    if n <= 0:
        raise CocoError(f"--calib {n}: need at least one calibration image")
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(files), size=min(n, len(files)), replace=False)
    return [files[i] for i in sorted(pick)]


def load_image(path) -> torch.Tensor:
    from PIL import Image
    from torchvision.transforms.functional import pil_to_tensor

    with Image.open(path) as im:
        return pil_to_tensor(im.convert("RGB")).float().div_(255.0)


def coco_results(outputs, image_ids, cat_ids, mask_threshold: float = 0.5) -> list[dict]:
    """COCO result records (bbox xywh, score, category, RLE mask) from detector outputs."""
    from pycocotools import mask as mask_util

    recs = []
    for out, iid in zip(outputs, image_ids):
        boxes = out["boxes"].detach().cpu().double()
        scores = out["scores"].detach().cpu().tolist()
        labels = out["labels"].detach().cpu().tolist()
        masks = out.get("masks")
        if masks is not None and len(boxes):
            m = (masks.detach().cpu()[:, 0] > mask_threshold).numpy().astype(np.uint8)
            rles = mask_util.encode(np.asfortranarray(m.transpose(1, 2, 0)))
        else:
            rles = [None] * len(boxes)
        for b, s, lab, rle in zip(boxes.tolist(), scores, labels, rles):
            if not 1 <= lab <= len(cat_ids):
                raise CocoError(f"detector produced label {lab}, outside 1..{len(cat_ids)}: its class count does not "
                                "match the annotation file's categories")
            r = {"image_id": int(iid), "category_id": int(cat_ids[lab - 1]), "score": float(s),
                 "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]]}
            if rle is not None:
                r["segmentation"] = {"size": list(rle["size"]), "counts": rle["counts"].decode("ascii")}
            recs.append(r)
    return recs


def coco_ap(cs: CocoSet, results: list[dict], iou_type: str) -> dict:
    """AP, AP50, AP75 in percent on the images of ``cs``; 0 when there are no detections."""
    from pycocotools.cocoeval import COCOeval

    recs = [r for r in results if iou_type == "bbox" or "segmentation" in r]
    if not recs:
        return {"ap": 0.0, "ap50": 0.0, "ap75": 0.0}
    with _quiet():
        dt = cs.coco.loadRes(recs)
        ev = COCOeval(cs.coco, dt, iou_type)
        ev.params.imgIds = list(cs.image_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    s = [max(float(x), 0.0) * 100.0 for x in ev.stats[:3]]
    return {"ap": round(s[0], 4), "ap50": round(s[1], 4), "ap75": round(s[2], 4)}


def ground_truth_results(cs: CocoSet) -> list[dict]:
    """The annotations as detections (score 1): scoring them must give AP = 100."""
    recs = []
    for iid in cs.image_ids:
        for a in cs.coco.imgToAnns[iid]:
            if a.get("iscrowd", 0):
                continue
            rle = cs.coco.annToRLE(a)
            counts = rle["counts"].decode("ascii") if isinstance(rle["counts"], bytes) else rle["counts"]
            recs.append({"image_id": iid, "category_id": a["category_id"], "score": 1.0, "bbox": list(a["bbox"]),
                         "segmentation": {"size": list(rle["size"]), "counts": counts}})
    return recs
