"""The quantization methods compared in this kit, as configurations of one harness.

=========  ==============  =================  ==================  ===============  ============
method     activations     post-softmax       post-LN (qkv/fc1)   post-GELU / proj  weights
=========  ==============  =================  ==================  ===============  ============
minmax     min-max         uniform (min-max)  uniform             uniform          min-max
repq       percentile/MSE  log√2              NormQuant α = 0     uniform          percentile
ptq4vit    percentile/MSE  twin uniform       uniform             twin (fc2)       percentile
fqvit      percentile/MSE  log2               uniform             uniform          percentile
uqvit      percentile/MSE  DeMax              NormQuant α-search  NormQuant α-search percentile
=========  ==============  =================  ==================  ===============  ============

All methods: per-output-channel asymmetric weights, per-tensor q/k/v, 8-bit
patch-embedding input, quantized head; LayerNorm, softmax and GELU stay float.
FQ-ViT's power-of-two factor for LayerNorm inputs is not part of ``fqvit`` here:
that baseline isolates its log2 softmax quantizer.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import UqvitError

METHOD_NAMES = ("fp", "minmax", "repq", "ptq4vit", "fqvit", "uqvit")


@dataclass(frozen=True)
class Method:
    name: str
    act: str = "percentile"  # calibration of uniform activation quantizers
    weight: str = "percentile"
    softmax: str = "uniform"  # uniform | demax | log2 | sqrt2 | twin
    postln: str = "uniform"  # uniform | normquant0 | normquant
    postgelu: str = "uniform"  # uniform | twin | normquant (fc2)
    proj: str = "uniform"  # uniform | normquant


METHODS = {
    "minmax": Method("minmax", act="minmax", weight="minmax"),
    "repq": Method("repq", softmax="sqrt2", postln="normquant0"),
    "ptq4vit": Method("ptq4vit", softmax="twin", postgelu="twin"),
    "fqvit": Method("fqvit", softmax="log2"),
    "uqvit": Method("uqvit", softmax="demax", postln="normquant", postgelu="normquant", proj="normquant"),
}


class UnknownMethodError(UqvitError, ValueError):
    pass


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise UnknownMethodError(
            f"unknown quantization method {name!r}; choose one of {', '.join(METHODS)} (or 'fp' for no quantization)"
        )
    return METHODS[name]
