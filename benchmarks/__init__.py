"""Benchmarks (printed figures, not timed tests): cycle model vs RTL simulation."""
