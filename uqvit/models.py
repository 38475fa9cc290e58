"""Models: the offline digits ViT (trained here, cached) and timm models by name."""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import torch

from .checkpoints import mismatch, read_state_dict
from .errors import UqvitError

DEMO_NAME = "demo"
DEMO_CONFIG = dict(img_size=8, patch_size=2, in_chans=1, num_classes=10, embed_dim=96, depth=4, num_heads=3,
                   mlp_ratio=2.0, qkv_bias=True, class_token=True, global_pool="token")
DEMO_TRAIN = dict(epochs=80, batch_size=64, lr=2e-3, weight_decay=0.05, seed=0)
#: The digits ViT that every figure of the README comes from.  It was trained once with
#: :func:`train_demo_model` and ships with the kit: training is seeded, but its float arithmetic is not
#: bit-reproducible across CPUs, so two machines that train get two different models.
#: ``make demo-weights`` retrains and rewrites it (then update the checksum and regenerate the reports).
DEMO_WEIGHTS = Path(__file__).resolve().parent / "assets" / "digits_vit.safetensors"
DEMO_WEIGHTS_SHA256 = "47fb51cf07ce894ce539093a0ce18e94c202e6ab794a1b0873fa473b01288e33"


class ModelError(UqvitError, ValueError):
    pass


def cache_dir() -> Path:
    root = os.environ.get("UQVIT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "uqvit")
    p = Path(root)
    p.mkdir(parents=True, exist_ok=True)
    return p


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


def train_demo_model(log=print, epochs: int | None = None) -> torch.nn.Module:
    """Train the digits ViT (seeded; single process, CPU); ``epochs`` overrides DEMO_TRAIN's."""
    from .data import digits_splits

    cfg = dict(DEMO_TRAIN, **({} if epochs is None else {"epochs": epochs}))
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


def sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_demo_model(log=print) -> torch.nn.Module:
    """The shipped digits ViT (:data:`DEMO_WEIGHTS`), its checksum verified."""
    from safetensors.torch import load_file

    if not DEMO_WEIGHTS.is_file():
        raise ModelError(f"the digits ViT weights {DEMO_WEIGHTS} are missing from this install; reinstall the kit "
                         "(or rebuild them with `make demo-weights`)")
    got = sha256(DEMO_WEIGHTS)
    if got != DEMO_WEIGHTS_SHA256:
        raise ModelError(f"the digits ViT weights {DEMO_WEIGHTS} have SHA-256 {got[:16]}..., not the shipped "
                         f"{DEMO_WEIGHTS_SHA256[:16]}...: restore the file (git checkout) or, after `make demo-weights`, "
                         "update DEMO_WEIGHTS_SHA256 in uqvit/models.py")
    model = build_demo_model()
    model.load_state_dict(load_file(str(DEMO_WEIGHTS)))
    return model.eval()


def write_demo_weights(path=DEMO_WEIGHTS, log=print) -> str:
    """Train the digits ViT from scratch and write it to ``path``; returns the file's SHA-256."""
    from safetensors.torch import save_file

    model = train_demo_model(log=log)
    path = Path(path)
    tmp = path.with_suffix(".tmp")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp),
              metadata={"config": json.dumps(DEMO_CONFIG), "train": json.dumps(DEMO_TRAIN)})
    os.replace(tmp, path)
    digest = sha256(path)
    log(f"wrote {path}: SHA-256 {digest}")
    return digest


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
        if why := mismatch(sd, model.state_dict()):
            raise ModelError(f"checkpoint {checkpoint!r} does not fit {name!r}: {why}")
        model.load_state_dict(sd)
    return model.eval()
