"""Models: the offline digits ViT (trained here, cached) and timm models by name."""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import torch

from .checkpoints import read_state_dict
from .errors import UqvitError

DEMO_NAME = "demo"
DEMO_CONFIG = dict(img_size=8, patch_size=2, in_chans=1, num_classes=10, embed_dim=96, depth=4, num_heads=3,
                   mlp_ratio=2.0, qkv_bias=True, class_token=True, global_pool="token")
DEMO_TRAIN = dict(epochs=80, batch_size=64, lr=2e-3, weight_decay=0.05, seed=0)
DEMO_VERSION = "1"


class ModelError(UqvitError, ValueError):
    pass


def cache_dir() -> Path:
    root = os.environ.get("UQVIT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "uqvit")
    p = Path(root)
    p.mkdir(parents=True, exist_ok=True)
    return p


def _demo_key() -> str:
    blob = json.dumps([DEMO_CONFIG, DEMO_TRAIN, DEMO_VERSION], sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def demo_cache_path() -> Path:
    return cache_dir() / f"digits_vit_{_demo_key()}.safetensors"


def build_demo_model() -> torch.nn.Module:
    from timm.models.vision_transformer import VisionTransformer

    return VisionTransformer(**DEMO_CONFIG)


def _shift_augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random translation by up to one pixel (zero-filled at the background level)."""
    bg = x.amin()
    pad = torch.nn.functional.pad(x, (1, 1, 1, 1), value=float(bg))
    out = torch.empty_like(x)
    offs = torch.randint(0, 3, (x.shape[0], 2), generator=g)
    for i, (dy, dx) in enumerate(offs.tolist()):
        out[i] = pad[i, :, dy:dy + 8, dx:dx + 8]
    return out


def train_demo_model(log=print) -> torch.nn.Module:
    """Train the digits ViT deterministically (seeded; single process, CPU)."""
    from .data import digits_splits

    cfg = DEMO_TRAIN
    torch.manual_seed(cfg["seed"])
    g = torch.Generator().manual_seed(cfg["seed"])
    train, test = digits_splits()
    model = build_demo_model()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    steps = cfg["epochs"] * ((len(train.labels) + cfg["batch_size"] - 1) // cfg["batch_size"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg["lr"], total_steps=steps, pct_start=0.1)
    t0 = time.time()
    model.train()
    for _epoch in range(cfg["epochs"]):
        perm = torch.randperm(len(train.labels), generator=g)
        for i in range(0, len(perm), cfg["batch_size"]):
            idx = perm[i:i + cfg["batch_size"]]
            x = _shift_augment(train.images[idx], g)
            loss = torch.nn.functional.cross_entropy(model(x), train.labels[idx], label_smoothing=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    with torch.no_grad():
        acc = (model(test.images).argmax(-1) == test.labels).float().mean().item() * 100
    log(f"trained the digits ViT in {time.time() - t0:.1f} s: test top-1 {acc:.2f} % on {len(test.labels)} images")
    return model


def load_demo_model(retrain: bool = False, log=print) -> torch.nn.Module:
    """Load the cached digits ViT, training (and caching) it when missing or unreadable."""
    from safetensors.torch import load_file, save_file

    path = demo_cache_path()
    if path.exists() and not retrain:
        try:
            model = build_demo_model()
            model.load_state_dict(load_file(str(path)))
            return model.eval()
        except Exception as e:  # corrupt or stale cache: retrain
            log(f"cached digits model {path} is unreadable ({type(e).__name__}); retraining")
    model = train_demo_model(log=log)
    tmp = path.with_suffix(".tmp")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp),
              metadata={"config": json.dumps(DEMO_CONFIG), "train": json.dumps(DEMO_TRAIN)})
    os.replace(tmp, path)
    return model


def create_model(name: str, checkpoint: str | None = None, pretrained: bool = False,
                 num_classes: int | None = None, log=print) -> torch.nn.Module:
    """The digits demo model (``name == 'demo'``) or a timm model by name."""
    import timm

    if name == DEMO_NAME:
        if checkpoint or pretrained:
            raise ModelError("--checkpoint/--pretrained do not apply to the demo model")
        return load_demo_model(log=log)
    if name not in timm.list_models():
        raise ModelError(f"unknown model {name!r}: give 'demo' or a timm model name (see timm.list_models())")
    kw = {} if num_classes is None else {"num_classes": num_classes}
    try:
        model = timm.create_model(name, pretrained=pretrained, **kw)
    except Exception as e:
        if pretrained:
            raise ModelError(
                f"could not fetch pretrained weights for {name!r} ({type(e).__name__}: {e}); this needs internet "
                "access to the model hub. Offline, download the weights elsewhere and pass --checkpoint FILE"
            ) from None
        raise
    if checkpoint:
        sd = read_state_dict(checkpoint)
        try:
            model.load_state_dict(sd)
        except RuntimeError as e:
            raise ModelError(f"checkpoint {checkpoint!r} does not fit {name!r}: {str(e).splitlines()[0]}") from None
    return model.eval()
