"""Accuracy evaluation of FP, fake-quant and integer models on digits or an ImageFolder."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from .errors import UqvitError

from .data import (SYNTHETIC, SYNTHETIC_EVAL_SEED, SYNTHETIC_EVAL_SIZE, SYNTHETIC_CALIB_SEED, DataError, calibration_subset,
                   digits_eval_split, digits_splits, image_folder, synthetic_split)
from .distributed import UnpaddedDistributedSampler, all_sum, world
from .models import DEMO_NAME, create_model
from .quant.methods import INT_TWIN, METHOD_NAMES, UnknownMethodError

#: the golden models of ``INT_TWIN``: ``uqvit-int`` integer end to end (:class:`uqvit.golden.intvec.IntVectorModel`),
#: ``uqvit-int-fv`` with the float vector side (:class:`uqvit.golden.IntegerModel`: LayerNorm, softmax, GELU and
#: the residual adds in float32 between the core's integer GEMMs, the boundary the RTL harness implements)
INT_METHODS = ("uqvit-int", "uqvit-int-fv")
ALL_METHODS = METHOD_NAMES + INT_METHODS
DEFAULT_CALIB = 512


class DeviceError(UqvitError, ValueError):
    pass


def resolve_device(name: str) -> torch.device:
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError("--device cuda was requested but CUDA is not available here; use --device cpu")
        return torch.device(name)
    raise DeviceError(f"unknown device {name!r}; use cpu or cuda")


def parse_methods(text: str) -> list[str]:
    methods = [m.strip() for m in text.split(",") if m.strip()]
    if not methods:
        raise UnknownMethodError("no method given; e.g. --methods fp,uqvit")
    for m in methods:
        if m not in ALL_METHODS:
            raise UnknownMethodError(f"unknown method {m!r}; choose from {', '.join(ALL_METHODS)}")
    return methods


@dataclass
class EvalData:
    name: str
    loader: object
    n_images: int
    calib_images: torch.Tensor
    notes: list[str] = field(default_factory=list)


def make_loader(dataset, batch_size: int, workers: int, device: torch.device, limit: int | None = None):
    """Sharded (under torchrun), pinned (on CUDA) loader over ``dataset`` (first ``limit`` images)."""
    if limit is not None:
        dataset = torch.utils.data.Subset(dataset, range(min(limit, len(dataset))))
    rank, n = world()
    sampler = UnpaddedDistributedSampler(dataset, n, rank) if n > 1 else None
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, sampler=sampler,
                                       num_workers=workers, pin_memory=device.type == "cuda",
                                       persistent_workers=workers > 0)


def default_workers() -> int:
    # enough decoding processes to keep a GPU fed on ImageNet-size JPEGs, bounded by the cores
    return min(16, max(1, (os.cpu_count() or 1) - 1))


def prepare_data(data: str, model: torch.nn.Module, calib: int, batch_size: int = 256, workers: int | None = None,
                 device: torch.device = torch.device("cpu"), calib_data: str | None = None,
                 limit: int | None = None) -> EvalData:
    if limit is not None and limit <= 0:
        raise DataError("--limit must be at least 1")
    if calib <= 0:
        raise DataError("the calibration set is empty: --calib must be at least 1")
    if data == "digits":
        train, _ = digits_splits()
        test = digits_eval_split()
        n = min(calib, len(train.labels))
        notes = [f"calibration: {n} images from the digits training split ({len(train.labels)} available, "
                 f"{calib} requested); evaluation: {len(test.labels)} images (the 500-image digits test split "
                 "and its one-pixel translations)"]
        ds = torch.utils.data.TensorDataset(test.images, test.labels)
        loader = make_loader(ds, batch_size, 0, device, limit)
        if limit is not None:
            notes.append(f"--limit: evaluating the first {len(loader.dataset)} of them")
        return EvalData("digits", loader, len(loader.dataset), calibration_subset(
            torch.utils.data.TensorDataset(train.images, train.labels), n), notes)
    if data == SYNTHETIC:
        test = synthetic_split(model, SYNTHETIC_EVAL_SIZE, SYNTHETIC_EVAL_SEED)
        cal = synthetic_split(model, calib, SYNTHETIC_CALIB_SEED).images if not calib_data else \
            calibration_subset(image_folder(calib_data, model), calib)
        ds = torch.utils.data.TensorDataset(test.images, test.labels)
        loader = make_loader(ds, batch_size, 0, device, limit)
        notes = [f"synthetic data: {len(loader.dataset)} evaluation images of seeded uniform random pixels at the "
                 f"model's input size {tuple(test.images.shape[1:])} with random labels (accuracy on them means "
                 f"nothing); calibration: {cal.shape[0]} " + (f"images from {calib_data}" if calib_data else
                                                              "more synthetic images (another seed)")]
        return EvalData(SYNTHETIC, loader, len(loader.dataset), cal, notes)
    ds = image_folder(data, model)
    cal_ds = image_folder(calib_data, model) if calib_data else ds
    loader = make_loader(ds, batch_size, default_workers() if workers is None else workers, device, limit)
    cal = calibration_subset(cal_ds, calib)
    notes = [f"calibration: {cal.shape[0]} images from {calib_data or data}"
             + ("" if calib_data else " (the evaluation folder itself; pass --calib-data to use another split)")]
    return EvalData(data, loader, len(loader.dataset), cal, notes)


@torch.no_grad()
def predict(model, loader, device: torch.device, desc: str = "eval", progress: bool = True):
    """Top-1 predictions and labels over the whole loader (CPU tensors)."""
    preds, labels = [torch.zeros(0, dtype=torch.int64)], [torch.zeros(0, dtype=torch.int64)]
    for x, y in tqdm(loader, desc=desc, disable=not progress or world()[0] != 0, leave=False):
        preds.append(model(x.to(device, non_blocking=True)).argmax(-1).cpu())
        labels.append(y)
    return torch.cat(preds), torch.cat(labels)


def accuracy(model, loader, device: torch.device, desc: str = "eval", progress: bool = True) -> tuple[float, int]:
    pred, y = predict(model, loader, device, desc, progress)
    return 100.0 * float((pred == y).double().mean()), int(y.numel())


def build(fp_model, method: str, calib_images, w_bits: int, a_bits: int, progress: bool = True):
    """The model that ``method`` evaluates: FP, a fake-quant copy, or the integer golden model."""
    from .quant import quantize

    if method == "fp":
        return fp_model
    if method in INT_METHODS:
        return golden_model(method, quantize(fp_model, calib_images, INT_TWIN, w_bits, a_bits, progress=progress),
                            calib_images)
    return quantize(fp_model, calib_images, method, w_bits, a_bits, progress=progress)


def golden_model(method: str, fq, calib_images):
    """The golden model ``method`` (one of :data:`INT_METHODS`) of ``fq``, an ``INT_TWIN`` fake-quant model."""
    from .golden import IntegerModel

    im = IntegerModel.from_quantized(fq, calib_images)
    if method == "uqvit-int-fv":
        return im
    from .golden.intvec import IntVectorModel

    return IntVectorModel(im, fq, calib_images)


def run_eval(model_name: str, data: str, methods: list[str], w_bits: int, a_bits: int, calib: int = DEFAULT_CALIB,
             device: str = "cpu", batch_size: int = 256, checkpoint: str | None = None, pretrained: bool = False,
             calib_data: str | None = None, progress: bool = True, log=print, model=None,
             limit: int | None = None) -> dict:
    """Evaluate ``methods``; under torchrun each rank takes a shard and the counts are summed."""
    dev = resolve_device(device)
    if model_name == DEMO_NAME and data != "digits":
        raise DataError("the demo model is trained on digits: use --data digits with --model demo")
    if data == "digits" and model_name != DEMO_NAME:
        raise DataError("--data digits needs --model demo (the offline digits ViT)")
    model = model if model is not None else create_model(model_name, checkpoint, pretrained, log=log)
    model = model.to(dev).eval()
    ed = prepare_data(data, model, calib, batch_size, device=dev, calib_data=calib_data, limit=limit)
    rank, n_proc = world()
    if rank != 0:
        log = lambda *_a, **_k: None  # noqa: E731
        progress = False
    for n in ed.notes:
        log(n)
    results = []
    cache = {}
    fp_pred = None
    preds = {}
    for method in methods:
        if method in INT_METHODS:  # the golden models of one INT_TWIN calibration
            if INT_TWIN not in cache:
                cache[INT_TWIN] = build(model, INT_TWIN, ed.calib_images, w_bits, a_bits, progress)
            m = golden_model(method, cache[INT_TWIN], ed.calib_images)
        else:
            m = cache[method] = build(model, method, ed.calib_images, w_bits, a_bits, progress)
        pred, y = predict(m, ed.loader, dev, f"eval {method}", progress)
        preds[method] = pred
        fp = method == "fp"
        if fp_pred is None:
            fp_pred = pred if fp else predict(model, ed.loader, dev, "eval fp (reference)", progress)[0]
        correct, total, same = all_sum([int((pred == y).sum()), int(y.numel()), int((pred == fp_pred).sum())], dev)
        results.append({"method": method, "w_bits": None if fp else w_bits, "a_bits": None if fp else a_bits,
                        "top1": round(100.0 * correct / max(total, 1), 4), "n_images": total,
                        "calib_images": 0 if fp else int(ed.calib_images.shape[0]),
                        "agree_fp": round(100.0 * same / max(total, 1), 4)})
    if "uqvit-int" in preds and "uqvit-int-fv" in preds:  # what the integer vector side changes
        same, total = all_sum([int((preds["uqvit-int"] == preds["uqvit-int-fv"]).sum()), int(y.numel())], dev)
        next(r for r in results if r["method"] == "uqvit-int")["agree_float_vector"] = round(100.0 * same / max(total, 1), 4)
    return {"model": model_name, "data": ed.name, "device": str(dev), "processes": n_proc, "results": results}


def format_table(report: dict) -> str:
    rows = [f"model {report['model']} on {report['data']}",
            f"{'method':<13} {'W':>3} {'A':>3} {'top-1 %':>8} {'=FP %':>7} {'images':>7} {'calib':>6}"]
    for r in report["results"]:
        w = "-" if r["w_bits"] is None else r["w_bits"]
        a = "-" if r["a_bits"] is None else r["a_bits"]
        rows.append(f"{r['method']:<13} {w:>3} {a:>3} {r['top1']:>8.2f} {r['agree_fp']:>7.2f} {r['n_images']:>7} "
                    f"{r['calib_images']:>6}")
    rows.append("=FP %: share of images whose top-1 prediction equals the FP model's")
    return "\n".join(rows)


def write_json(report: dict, path: str, kind: str = "accuracy", command: str | None = None) -> None:
    """Write an eval (or detection) report with its provenance (:func:`uqvit.provenance.stamp`)."""
    import sys

    from .provenance import write_json as write_stamped

    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    write_stamped(path, report, kind, command or " ".join(["uqvit", *sys.argv[1:]]), indent=2)
