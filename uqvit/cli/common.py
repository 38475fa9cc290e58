"""Argument helpers shared by the command groups."""
from __future__ import annotations

import argparse


def add_model_args(p, data_default="digits", model_default="demo") -> None:
    p.add_argument("--model", default=model_default, help="'demo' (offline digits ViT) or a timm model name")
    p.add_argument("--data", default=data_default, help="'digits', an ImageFolder root (ImageNet val layout), or 'synthetic' (seeded random "
                        "images at the model's input size, for running timm models offline)")
    p.add_argument("--checkpoint", help="local weights (.safetensors / .pth) for a timm model")
    p.add_argument("--pretrained", action="store_true", help="timm hub weights (needs internet)")


def bits(text: str) -> int:
    """argparse type of a bit-width: an integer in 2..8."""
    try:
        b = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bit-width must be an integer, got {text!r}") from None
    if not 2 <= b <= 8:
        raise argparse.ArgumentTypeError(f"bit-width {b} is outside 2..8")
    return b
