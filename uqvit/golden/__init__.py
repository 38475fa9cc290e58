"""Integer golden model of the UQ-ViT core (see :mod:`uqvit.golden.model`)."""
from .gemm import int_gemm
from .layers import GoldenError
from .model import IntegerModel

__all__ = ["IntegerModel", "GoldenError", "int_gemm"]
