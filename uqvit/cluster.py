"""Where independent tasks run: in this process, on ``jobs`` local processes, or on a Dask cluster.

Used by ``uqvit sweep`` and ``uqvit rtl verify`` (``--jobs N``, ``--cluster ADDRESS``).  Dask distributed, not
Ray: a scheduler and its workers are two commands (``dask scheduler``, ``dask worker ADDRESS``) with nothing else
to run, a ``LocalCluster`` in a test is the same API, and a task whose worker dies is rerun on another worker
(``retries``).  :func:`task_pool` gives every backend one interface, ``(submit, as_completed, close)``; each
caller keeps its results by submission, so they do not depend on where or in which order the tasks ran.
"""
from __future__ import annotations

from .errors import UserError

#: how often Dask reruns a task whose worker died before the task is reported failed
RETRIES = 2


class _Inline:
    """The serial 'pool': runs each task when it is submitted."""

    def submit(self, fn, *a):
        from concurrent.futures import Future

        f = Future()
        try:
            f.set_result(fn(*a))
        except BaseException as e:  # noqa: BLE001 (handed to the caller through the future, as a pool would)
            f.set_exception(e)
        return f

    def close(self):
        pass


def connect(cluster):
    """A ``distributed.Client`` for ``cluster`` (a scheduler address, or a client, used as it is) and the function
    that closes it (nothing for a client that was passed in); an unreachable scheduler is one :class:`UserError`."""
    from distributed import Client

    if isinstance(cluster, Client):
        return cluster, (lambda: None)
    try:
        client = Client(cluster, timeout=10)
    except (OSError, TimeoutError, ValueError) as e:
        raise UserError(f"--cluster: cannot reach a Dask scheduler at {cluster} ({type(e).__name__}: {e}); "
                        "start one with `dask scheduler` and `dask worker ADDRESS`, or drop --cluster") from None
    return client, client.close


def task_pool(jobs: int, cluster=None, spawn: bool = False):
    """``(submit, as_completed, close)`` for ``jobs`` local processes (``spawn``: started fresh, not forked), or a
    Dask cluster (an address, or a ``distributed.Client``); ``jobs = 1`` without a cluster runs in this process."""
    if cluster is not None:
        from distributed import as_completed

        client, close = connect(cluster)
        return (lambda fn, *a: client.submit(fn, *a, retries=RETRIES, pure=False), as_completed, close)
    from concurrent.futures import ProcessPoolExecutor, as_completed

    if jobs <= 1:
        ex = _Inline()
        return ex.submit, as_completed, ex.close
    import multiprocessing

    ex = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn") if spawn else None)
    return ex.submit, as_completed, ex.shutdown
