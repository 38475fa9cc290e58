"""How many CPU threads torch may use while the kit calibrates: the cores no other process is using.

Why: calibration issues many small tensor operations.  torch runs each one on all of its OpenMP
threads and waits for the slowest.  When another process holds a core, one of those threads waits
for the scheduler at every operation, and a calibration that takes 12 s on an idle 2-core machine
took ten times as long beside one other job.  With one thread fewer than the busy cores it slows
down by the lost core only.

Policies (``threads=`` of :func:`uqvit.quantize`, ``--threads`` of the commands that calibrate, or
the environment variable ``UQVIT_THREADS``; the argument wins over the variable):

* ``auto`` (default): the cores this process may run on, less the cores other processes kept busy.
  The load is measured before every block over the time since the last measurement (the system's
  busy CPU time less this process's own; intervals under 50 ms are extended, not read), so a job
  that starts or stops next to a long calibration is followed.  Nothing is sampled up front: the
  first reading covers the patch embedding's calibration.  Never more threads than torch had when
  calibration started, so ``OMP_NUM_THREADS`` or ``torch.set_num_threads`` still cap it.
* a number ``N`` >= 1: exactly N threads.
* ``torch``: leave torch's thread count alone (the kit's behaviour before it had a policy).

torch's thread count is restored when calibration ends.  The thread count never changes a result:
the reductions calibration uses give the same bits at any thread count (tested).
"""
from __future__ import annotations

import os
import time

import torch

from .errors import UserError

ENV = "UQVIT_THREADS"
POLICIES = ("auto", "torch")
#: the shortest interval the load is read over (a shorter one is extended to the next reading)
MIN_SAMPLE_S = 0.05


def parse(policy: str | int | None) -> str | int:
    """``policy`` (or ``$UQVIT_THREADS`` when None) as ``"auto"``, ``"torch"`` or a positive int."""
    source = "threads"
    if policy is None:
        policy, source = os.environ.get(ENV, "auto"), ENV
    if isinstance(policy, int) and not isinstance(policy, bool):
        text = str(policy)
    elif isinstance(policy, str):
        text = policy.strip().lower()
    else:
        raise UserError(f"{source}={policy!r}: give auto, torch or a number of threads >= 1")
    if text in POLICIES:
        return text
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise UserError(f"{source}={policy!r}: give auto, torch or a number of threads >= 1")


def usable_cores() -> int:
    """The cores this process may be scheduled on (its CPU affinity where the OS reports one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


class LoadMeter:
    """Cores kept busy by *other* processes since the last reading: the system's busy CPU time
    less this process's own, over the wall time between readings."""

    def __init__(self):
        import psutil

        self._psutil = psutil
        self._me = psutil.Process()
        self._mark = self._now()

    def _now(self):
        t = self._psutil.cpu_times()
        busy = sum(t) - t.idle - getattr(t, "iowait", 0.0)
        own = self._me.cpu_times()
        return time.monotonic(), busy, own.user + own.system

    def others_busy(self) -> float | None:
        """Cores busy with other processes since the last reading; None if that is under ``MIN_SAMPLE_S``."""
        (w0, b0, o0), (w1, b1, o1) = self._mark, self._now()
        if w1 - w0 < MIN_SAMPLE_S:
            return None
        self._mark = (w1, b1, o1)
        return max(0.0, ((b1 - b0) - (o1 - o0)) / (w1 - w0))


class ThreadPolicy:
    """Context manager: applies a policy to torch's intra-op threads, restores torch's count at exit.

    ``update()`` re-applies ``auto`` from the load since the last call (calibration calls it per block).
    """

    def __init__(self, policy: str | int | None = None):
        self.policy = parse(policy)
        self.threads = None
        self._meter = None

    def __enter__(self) -> "ThreadPolicy":
        self._saved = torch.get_num_threads()
        if self.policy == "auto":
            self._meter = LoadMeter()
        elif isinstance(self.policy, int):
            self._set(self.policy)
        return self

    def update(self) -> None:
        busy = self._meter.others_busy() if self._meter is not None else None
        if busy is not None:
            self._set(max(1, min(usable_cores() - round(busy), self._saved)))

    def _set(self, n: int) -> None:
        self.threads = n
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)

    def __exit__(self, *exc) -> None:
        if torch.get_num_threads() != self._saved:
            torch.set_num_threads(self._saved)
