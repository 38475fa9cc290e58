"""The quantization methods compared in this kit, as configurations of one harness.

=========  ==================  ============  ==================  ==================  ==================
method     calibrator          post-softmax  post-LN (qkv/fc1)   post-GELU / proj    weights
=========  ==================  ============  ==================  ==================  ==================
minmax     minmax              uniform       uniform             uniform             minmax
repq       percentile-linear   log√2         NormQuant α = 0     uniform             percentile-linear
ptq4vit    percentile          twin uniform  uniform             twin (fc2)          percentile
fqvit      percentile          log2          uniform             uniform             percentile
uqvit      percentile          DeMax         NormQuant α-search  NormQuant α-search  percentile
uqvit-hw   percentile-hw       DeMax         NormQuant α-search  NormQuant α-search  percentile-hw
=========  ==================  ============  ==================  ==================  ==================

The calibrators are :data:`uqvit.quant.uniform.CALIBRATORS`.  ``uqvit`` is the
authors' pipeline (their calibration, observer, shift target, α search and float
operation order; one intended change: one-hot DeMax rows come back exact instead of
NaN).  ``uqvit-hw`` changes one thing for integer hardware: every range holds 0, so
every zero point lies in ``[0, 2**b - 1]`` and ``code - z`` fits the core's
``b + 1``-bit lane; the integer golden models (``uqvit-int``, ``uqvit-int-fv``) run it.

The baselines are configurations of this harness, not their authors' pipelines;
:data:`DEVIATIONS` names what differs.  All methods: per-output-channel asymmetric
weights, per-tensor q/k/v, 8-bit patch-embedding input, quantized head; LayerNorm,
softmax and GELU stay float.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import UqvitError

METHOD_NAMES = ("fp", "minmax", "repq", "ptq4vit", "fqvit", "uqvit", "uqvit-hw")
#: the fake-quant method whose golden models ``uqvit-int`` and ``uqvit-int-fv`` are
INT_TWIN = "uqvit-hw"


@dataclass(frozen=True)
class Method:
    name: str
    act: str = "percentile"  # calibration of uniform activation quantizers
    weight: str = "percentile"
    softmax: str = "uniform"  # uniform | demax | log2 | sqrt2 | twin
    postln: str = "uniform"  # uniform | normquant0 | normquant
    postgelu: str = "uniform"  # uniform | twin | normquant (fc2)
    proj: str = "uniform"  # uniform | normquant
    alpha_search: bool = False  # UQ-ViT's block-wise alpha search at the NormQuant sites


METHODS = {
    "minmax": Method("minmax", act="minmax", weight="minmax"),
    "repq": Method("repq", act="percentile-linear", weight="percentile-linear", softmax="sqrt2", postln="normquant0"),
    "ptq4vit": Method("ptq4vit", softmax="twin", postgelu="twin"),
    "fqvit": Method("fqvit", softmax="log2"),
    "uqvit": Method("uqvit", softmax="demax", postln="normquant", postgelu="normquant", proj="normquant",
                    alpha_search=True),
    "uqvit-hw": Method("uqvit-hw", act="percentile-hw", weight="percentile-hw", softmax="demax", postln="normquant",
                       postgelu="normquant", proj="normquant", alpha_search=True),
}

#: how each method differs from its authors' code (README rows and report headers show it)
DEVIATIONS = {
    "minmax": "plain per-tensor min-max baseline (no reference pipeline)",
    "repq": "RepQ-ViT's quantizer (linearly interpolated percentiles, zero point free) and post-LN "
            "reparameterization (alpha = 0) and its scaled log-sqrt2 softmax, but x' re-calibrated per tensor "
            "(RepQ-ViT keeps mean(delta_c), mean(z_c)) and calibration block by block (RepQ-ViT: one pass)",
    "ptq4vit": "twin-uniform softmax and post-GELU with scales by tensor MSE, not PTQ4ViT's Hessian-guided search",
    "fqvit": "log2 softmax only: no power-of-two factor for LayerNorm inputs; this harness's percentile calibration",
    "uqvit": "none, except one-hot DeMax rows (exact here, NaN in the reference)",
    "uqvit-hw": "uqvit with 0 kept in every range, so zero points lie in [0, 2^b-1] (the integer core's lanes)",
    "uqvit-int": "the golden model of uqvit-hw, integer end to end (LayerNorm, softmax, GELU, residual adds on words)",
    "uqvit-int-fv": "the golden model of uqvit-hw with the float vector side (integer GEMMs; what the RTL harness runs)",
    "fp": "-",
}


def deviation(method: str) -> str:
    """How ``method`` differs from its authors' code ('?' for a name this kit does not know)."""
    return DEVIATIONS.get(method, "?")


class UnknownMethodError(UqvitError, ValueError):
    pass


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise UnknownMethodError(
            f"unknown quantization method {name!r}; choose one of {', '.join(METHODS)} (or 'fp' for no quantization)"
        )
    return METHODS[name]
