"""The offline detection demo: a mini Swin Mask R-CNN trained here on the synthetic shapes set.

``uqvit det-demo`` writes the shapes set (512 training, 64 validation images of 64x64,
deterministic) to the cache, trains ``maskrcnn_swin_mini`` on the training split once
(seeded; cached as safetensors next to the digits ViT), then runs ``eval-det`` on the
validation split with the training split as the calibration split, and writes
``reports/detection_demo.{json,md}``.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import torch

from ..models import cache_dir
from .coco import load_coco
from .models import build_detector
from .synthetic import make_shapes_coco

SHAPES_DATA = dict(train=512, val=64, size=64, train_seed=1, val_seed=2, version="1")
SHAPES_TRAIN = dict(steps=600, batch=8, lr=1e-3, weight_decay=0.05, seed=0, version="2")
DEMO_DETECTOR = "maskrcnn_swin_mini"
DEMO_METHODS = ("fp", "minmax", "repq", "ptq4vit", "fqvit", "uqvit", "uqvit-hw", "uqvit-int-fv")
DEMO_BITS = ((4, 4), (6, 6), (8, 8))
DEMO_CALIB = 32


def _key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]


def shapes_data(log=print) -> dict:
    """The shapes train/val splits in the cache (written once)."""
    root = cache_dir() / f"shapes_{_key(SHAPES_DATA)}"
    d = SHAPES_DATA
    out = {}
    for split, n, seed in (("train", d["train"], d["train_seed"]), ("val", d["val"], d["val_seed"])):
        img_dir, ann = root / split, root / f"{split}.json"
        if not ann.is_file() or len(list(img_dir.glob("*.png"))) != n:
            log(f"writing the synthetic shapes {split} split ({n} images) to {root}")
            make_shapes_coco(root, n, d["size"], seed=seed, name=split)
        out[split] = (img_dir, ann)
    return out


def train_shapes_detector(name: str = DEMO_DETECTOR, log=print) -> torch.nn.Module:
    """Train ``name`` on the shapes training split (seeded, single process, CPU)."""
    cfg = SHAPES_TRAIN
    data = shapes_data(log)
    cs = load_coco(*data["train"])
    images = [cs.load(i) for i in cs.image_ids]
    targets = [cs.target(i) for i in cs.image_ids]
    torch.manual_seed(cfg["seed"])
    g = torch.Generator().manual_seed(cfg["seed"])
    det = build_detector(name, cs.num_classes)
    opt = torch.optim.AdamW(det.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg["lr"], total_steps=cfg["steps"], pct_start=0.1)
    det.train()
    t0 = time.time()
    from tqdm.auto import tqdm

    for _ in tqdm(range(cfg["steps"]), desc=f"train {name} on shapes", leave=False):
        idx = torch.randint(len(images), (cfg["batch"],), generator=g).tolist()
        loss = sum(det([images[i] for i in idx], [targets[i] for i in idx]).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    log(f"trained {name} on {len(images)} shapes images in {time.time() - t0:.0f} s ({cfg['steps']} steps)")
    return det.eval()


def shapes_checkpoint(name: str = DEMO_DETECTOR) -> Path:
    return cache_dir() / f"shapes_{name}_{_key(SHAPES_DATA, SHAPES_TRAIN, name)}.safetensors"


def load_shapes_detector(name: str = DEMO_DETECTOR, log=print) -> torch.nn.Module:
    """The trained shapes detector from the cache, training it when missing or unreadable."""
    from safetensors.torch import load_file, save_file

    path = shapes_checkpoint(name)
    det = build_detector(name, 3)
    if path.exists():
        try:
            det.load_state_dict(load_file(str(path)))
            return det.eval()
        except Exception as e:  # noqa: BLE001 - a stale or corrupt cache is retrained
            log(f"cached detector {path} is unreadable ({type(e).__name__}); retraining")
    det = train_shapes_detector(name, log)
    tmp = path.with_suffix(".tmp")
    save_file({k: v.contiguous() for k, v in det.state_dict().items()}, str(tmp),
              metadata={"data": json.dumps(SHAPES_DATA), "train": json.dumps(SHAPES_TRAIN)})
    os.replace(tmp, path)
    return det


def run_det_demo(out: str = "reports", methods=DEMO_METHODS, bits=DEMO_BITS, progress: bool = True,
                 log=print) -> dict:
    from ..evaluate import write_json
    from ..provenance import provenance, versions
    from .evaluate import format_det_table, run_eval_det

    data = shapes_data(log)
    det = load_shapes_detector(DEMO_DETECTOR, log)
    runs = []
    for w, a in bits:
        ms = [m for m in methods if m != "fp" or not runs]
        rep = run_eval_det(DEMO_DETECTOR, *data["val"], ms, w, a, calib=DEMO_CALIB, calib_dir=data["train"][0],
                           progress=progress, log=log, model=det)
        log(format_det_table(rep))
        runs.append(rep)
    report = {"model": DEMO_DETECTOR, "weights": f"trained here on the synthetic shapes set ({shapes_checkpoint()})",
              "data": runs[0]["data"], "calibration": f"{DEMO_CALIB} images of the shapes training split",
              "generated_by": provenance("uqvit det-demo"), "versions": versions(),
              "results": [r for rep in runs for r in rep["results"]]}
    outp = Path(out)
    outp.mkdir(parents=True, exist_ok=True)
    write_json(report, str(outp / "detection_demo.json"), "detection", "uqvit det-demo")
    write_det_md(outp / "detection_demo.md", report)
    log(f"wrote {outp / 'detection_demo.json'} and {outp / 'detection_demo.md'}")
    return report


def write_det_md(path: Path, report: dict) -> None:
    from .evaluate import golden_summary

    L = ["# Detection demo: Swin Mask R-CNN (mini) on the synthetic shapes set", "",
         report["generated_by"], "",
         f"Model `{report['model']}`, weights {report['weights']}. Evaluation: {report['data']}. "
         f"Calibration: {report['calibration']} (disjoint from the evaluation split). Machine: CPU.", "",
         "| method | W | A | box AP | box AP50 | mask AP | mask AP50 | backbone cosine (stage 0..3) |",
         "|---|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        cos = r.get("backbone_cosine")
        cs = " / ".join(f"{v:.4f}" for v in cos.values()) if cos else "-"
        L.append(f"| {r['method']} | {r['w_bits'] or '-'} | {r['a_bits'] or '-'} | {r['box_ap']:.2f} | "
                 f"{r['box_ap50']:.2f} | {r['mask_ap']:.2f} | {r['mask_ap50']:.2f} | {cs} |")
    g = [r for r in report["results"] if r.get("golden_backbone")]
    if g:
        L += ["", "Integer golden Swin backbone vs fake-quant (teacher-forced, per op, LSB units):", ""]
        L += [f"* W{r['w_bits']}A{r['a_bits']}: {golden_summary(r['golden_backbone'])}" for r in g]
    L += ["", "AP: COCO AP@[.5:.95] in percent (pycocotools). Backbone cosine: quantized vs FP stage outputs.", ""]
    path.write_text("\n".join(L))
