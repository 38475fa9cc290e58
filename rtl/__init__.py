"""Amaranth RTL of the UQ-ViT core: systolic array, NormQuant, requantization, DeMax.

Every width and constant comes from :mod:`uqvit.contract`; nothing here re-derives one.
"""
