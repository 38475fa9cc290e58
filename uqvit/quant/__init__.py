"""Fake-quantization library: quantizers, DeMax, NormQuant, the baselines and model surgery."""
from .calibrate import UnsupportedModelError, quantize
from .demax import DeMaxQuantizer, demax
from .logquant import LogQuantizer, log2_quant, log_sqrt2_quant
from .methods import METHOD_NAMES, METHODS, UnknownMethodError, get_method
from .uniform import CalibrationError, UniformQuantizer, fake_quant

__all__ = [
    "quantize", "demax", "DeMaxQuantizer", "LogQuantizer", "log2_quant", "log_sqrt2_quant", "UniformQuantizer",
    "fake_quant", "CalibrationError", "UnsupportedModelError", "UnknownMethodError", "METHODS", "METHOD_NAMES",
    "get_method",
]
