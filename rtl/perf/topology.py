"""Your own layers: a GEMM list in SCALE-Sim's ``M, N, K`` topology format, as :class:`rtl.perf.workload.Layer`.

SCALE-Sim's GEMM topology is a CSV file whose first line is a header (``Layer, M, N, K,``) and whose rows are
``name, M, N, K`` with an optional trailing comma: ``M`` rows of the left operand (tokens), ``N`` output columns,
``K`` the reduction, so a row is the GEMM ``[M, K] @ [K, N]``.  Columns after ``K`` (SCALE-Sim v3's sparsity) are
ignored.  Each row becomes one GEMM layer of op ``linear``, in file order; the cycle model, the memory model and
the reports then treat it as they treat a timm model's layers.  A bad row is refused with its line number.
"""
from __future__ import annotations

import csv
from pathlib import Path

from uqvit.errors import UqvitError

from .workload import Layer


class TopologyError(UqvitError, ValueError):
    pass


def _norm(cell: str) -> str:
    return cell.strip().lower().replace(" ", "")


def read_topology(path) -> list[Layer]:
    """The layers of a SCALE-Sim ``M, N, K`` topology file (see the module docstring)."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise TopologyError(f"{p}: cannot read the topology file ({e.strerror or e})") from None
    rows = [(i, r) for i, r in enumerate(csv.reader(text.splitlines()), 1) if any(c.strip() for c in r)]
    if not rows:
        raise TopologyError(f"{p}: empty; a SCALE-Sim GEMM topology starts with the header `Layer, M, N, K,`")
    line, head = rows[0]
    if [_norm(c) for c in head[1:4]] != ["m", "n", "k"]:
        raise TopologyError(f"{p}:{line}: the header must name the columns `Layer, M, N, K` (SCALE-Sim's GEMM "
                            f"format), got `{', '.join(c.strip() for c in head)}`")
    layers, names = [], set()
    for line, r in rows[1:]:
        cells = [c.strip() for c in r]
        if len(cells) < 4 or not cells[0]:
            raise TopologyError(f"{p}:{line}: a row is `name, M, N, K`, got `{', '.join(cells)}`")
        try:
            m, n, k = (int(c) for c in cells[1:4])
        except ValueError:
            raise TopologyError(f"{p}:{line}: M, N and K must be integers, got `{', '.join(cells[1:4])}`") from None
        if min(m, n, k) < 1:
            raise TopologyError(f"{p}:{line}: M, N and K must be at least 1, got M={m} N={n} K={k}")
        if cells[0] in names:
            raise TopologyError(f"{p}:{line}: layer name `{cells[0]}` appears twice; names must be unique")
        names.add(cells[0])
        layers.append(Layer(cells[0], "linear", m, k, n))
    if not layers:
        raise TopologyError(f"{p}: no layer rows after the header")
    return layers
