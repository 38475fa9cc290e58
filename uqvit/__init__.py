"""uqvit: UQ-ViT hardware/software co-design kit."""
__version__ = "0.1.0"


def quantize(model, calib_images, method="uqvit", w_bits=4, a_bits=4, progress=True, threads=None):
    """Quantize a timm ViT/DeiT/Swin model; see :func:`uqvit.quant.quantize`."""
    from .quant import quantize as _q

    return _q(model, calib_images, method=method, w_bits=w_bits, a_bits=a_bits, progress=progress, threads=threads)
