"""Data sets: the offline digits set (scikit-learn) and ImageFolder trees with timm transforms."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from .errors import UqvitError

DIGITS_TEST_SIZE = 500
DIGITS_SPLIT_SEED = 0
DIGITS_MEAN, DIGITS_STD = 0.5, 0.5
EVAL_SHIFT_PIXELS = 1  # the evaluation set adds every translation by up to this many pixels


class DataError(UqvitError, ValueError):
    pass


@dataclass
class Split:
    images: torch.Tensor  # [N, C, H, W] float32, normalized
    labels: torch.Tensor  # [N] int64


def digits_splits() -> tuple[Split, Split]:
    """The fixed train/test split of ``sklearn.datasets.load_digits`` (8x8, 1 channel, 10 classes)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = (x - DIGITS_MEAN) / DIGITS_STD
    y = torch.tensor(d.target, dtype=torch.int64)
    idx = list(range(len(y)))
    tr, te = train_test_split(idx, test_size=DIGITS_TEST_SIZE, random_state=DIGITS_SPLIT_SEED, stratify=d.target)
    tr, te = torch.tensor(sorted(tr)), torch.tensor(sorted(te))
    return Split(x[tr], y[tr]), Split(x[te], y[te])


def translations(split: Split, pixels: int = 1) -> Split:
    """Every translation of ``split`` by up to ``pixels`` in x and y (background-filled)."""
    k = 2 * pixels + 1
    h, w = split.images.shape[-2:]
    bg = float(split.images.amin())
    pad = torch.nn.functional.pad(split.images, (pixels,) * 4, value=bg)
    imgs = torch.cat([pad[:, :, dy:dy + h, dx:dx + w] for dy in range(k) for dx in range(k)])
    return Split(imgs, split.labels.repeat(k * k))


def digits_eval_split() -> Split:
    """The evaluation set of the digits demo: the 500-image test split and its eight one-pixel
    translations (4 500 images), so that method differences of a few tenths of a point are
    resolved (the model is trained with the same +-1 pixel translations)."""
    return translations(digits_splits()[1], EVAL_SHIFT_PIXELS)


def digits_eval_size() -> int:
    """Images in :func:`digits_eval_split`, without building it."""
    return DIGITS_TEST_SIZE * (2 * EVAL_SHIFT_PIXELS + 1) ** 2


#: ``--data synthetic``: seeded random images at the model's own input size, for running timm models
#: through the kit offline (no image set on disk).  Their labels are random: accuracy on them means nothing.
SYNTHETIC = "synthetic"
SYNTHETIC_EVAL_SIZE = 64
SYNTHETIC_EVAL_SEED, SYNTHETIC_CALIB_SEED = 1, 2


def model_input(model) -> tuple[tuple[int, int, int], tuple, tuple, int]:
    """``(C, H, W)``, normalisation mean and std, and class count of a timm ViT/DeiT/Swin model (or the demo)."""
    pe = getattr(model, "patch_embed", None)
    c = pe.proj.in_channels if pe is not None else 3
    hw = tuple(pe.img_size) if pe is not None and getattr(pe, "img_size", None) else (224, 224)
    cfg = getattr(model, "pretrained_cfg", None) or {}
    mean, std = tuple(cfg.get("mean", (0.485, 0.456, 0.406))), tuple(cfg.get("std", (0.229, 0.224, 0.225)))
    if len(mean) != c:
        mean, std = (DIGITS_MEAN,) * c, (DIGITS_STD,) * c
    return (c, *hw), mean, std, int(getattr(model, "num_classes", 1000))


def synthetic_split(model, n: int, seed: int) -> Split:
    """``n`` images of uniform random pixels in [0, 1] at the model's input size, normalised with the
    model's mean and std (as its eval transform would), and random labels; the same for the same seed."""
    (c, h, w), mean, std, classes = model_input(model)
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, c, h, w, generator=g)
    x = (x - torch.tensor(mean).view(1, c, 1, 1)) / torch.tensor(std).view(1, c, 1, 1)
    return Split(x, torch.randint(0, classes, (n,), generator=g))


def tensor_loader(split: Split, batch_size: int = 256):
    ds = torch.utils.data.TensorDataset(split.images, split.labels)
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=False)


def image_folder(path: str, model: torch.nn.Module):
    """An ImageFolder (ImageNet val layout: one sub-folder per class) with the model's timm eval transform."""
    import timm.data
    from torchvision.datasets import ImageFolder

    if not os.path.isdir(path):
        raise DataError(f"data directory {path!r} does not exist; pass --data digits or an ImageFolder root")
    cfg = timm.data.resolve_data_config({}, model=model)
    tf = timm.data.create_transform(**cfg, is_training=False)
    try:
        return ImageFolder(path, transform=tf)
    except (FileNotFoundError, RuntimeError) as e:
        raise DataError(
            f"no images found under {path!r}: expected one sub-folder per class holding .jpg/.png/... files ({e})"
        ) from None


def calibration_subset(dataset, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` images drawn reproducibly from ``dataset`` (without replacement), stacked."""
    if n <= 0:
        raise DataError("the calibration set is empty: --calib must be at least 1")
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(dataset), generator=g)[: min(n, len(dataset))]
    return torch.stack([dataset[int(i)][0] for i in idx])
