"""The report plots' matplotlib boilerplate: a headless pyplot and one way to save a figure."""
from __future__ import annotations


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no display; imported only when a report draws)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path, dpi: int = 110) -> str:
    """Lay out, write and close ``fig``; returns the path as a string."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    return str(path)
