"""Fast Verilator harness: compiled C++ drives the core, Python calls it once per operation."""
from .core import FastCore, FastSimError, build  # noqa: F401
