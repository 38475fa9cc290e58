"""The shipped digits ViT: the same weights on every machine, checked on load; its training code still runs."""
from __future__ import annotations

import pytest
import torch

from uqvit import models


def test_shipped_weights_have_the_recorded_checksum():
    assert models.sha256(models.DEMO_WEIGHTS) == models.DEMO_WEIGHTS_SHA256


def test_shipped_model_is_the_trained_digits_vit(demo_model, digits):
    _, test, _ = digits
    with torch.no_grad():
        acc = (demo_model(test.images).argmax(-1) == test.labels).float().mean().item()
    assert acc > 0.9


def test_altered_weights_are_refused(tmp_path, monkeypatch):
    bad = tmp_path / "w.safetensors"
    data = bytearray(models.DEMO_WEIGHTS.read_bytes())
    data[-1] ^= 1
    bad.write_bytes(bytes(data))
    monkeypatch.setattr(models, "DEMO_WEIGHTS", bad)
    with pytest.raises(models.ModelError, match="SHA-256"):
        models.load_demo_model()
    monkeypatch.setattr(models, "DEMO_WEIGHTS", tmp_path / "none.safetensors")
    with pytest.raises(models.ModelError, match="missing"):
        models.load_demo_model()


def test_training_code_trains_and_writes_loadable_weights(tmp_path, monkeypatch, digits):
    monkeypatch.setitem(models.DEMO_TRAIN, "epochs", 12)
    out = tmp_path / "w.safetensors"
    digest = models.write_demo_weights(out, log=lambda *_: None)
    assert digest == models.sha256(out)
    monkeypatch.setattr(models, "DEMO_WEIGHTS", out)
    monkeypatch.setattr(models, "DEMO_WEIGHTS_SHA256", digest)
    m = models.load_demo_model()
    _, test, _ = digits
    with torch.no_grad():
        acc = (m(test.images).argmax(-1) == test.labels).float().mean().item()
    assert acc > 0.5  # 12 epochs: short of the shipped 96 %, far above chance (10 %)
