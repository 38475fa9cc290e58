"""The worker pool of ``uqvit rtl mutate --jobs N``: independent work items in ``N`` local processes.

:class:`WorkPool` runs ``fn(*args)`` items in a :class:`concurrent.futures.ProcessPoolExecutor` (or, with one job,
in this process at submission, as the serial run always did) and hands back ``(tag, ok, value)``: the item's
return value, or -- ``ok`` False -- the reason it failed.  No item is ever dropped.  A worker that dies (the OOM
killer, a signal, a crash of the interpreter) breaks the whole executor and fails every unfinished item with it;
those items are run again in a fresh pool, and one that is in a broken pool a second time is run once more alone,
in a process of its own: only the item that kills even its own worker is reported failed ("its worker process
died").

With ``cluster`` (a Dask scheduler address, or a ``distributed.Client``) the items run on that cluster's workers
instead (:mod:`uqvit.cluster`): Dask reruns an item whose worker died (``RETRIES`` times), then fails it with the
reason, so here too no item is dropped.  The workers need this repository and its tools at the same paths, and
the build folders the items read (a shared file system), as the regression's do.
"""
from __future__ import annotations

import concurrent.futures as cf
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Hashable

Result = tuple[Hashable, bool, Any]  # (tag, ok, return value or reason)


class _Inline:
    """One job: each item runs in this process when it is submitted."""

    def submit(self, fn: Callable, *args) -> cf.Future:
        f: cf.Future = cf.Future()
        try:
            f.set_result(fn(*args))
        except Exception as e:  # reported as the item's failure, as a worker's exception is
            f.set_exception(e)
        return f

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


def _reason(e: BaseException) -> str:
    if isinstance(e, BrokenProcessPool):
        return f"its worker process died ({e})"
    return f"{type(e).__name__}: {e}"


class WorkPool:
    def __init__(self, jobs: int, cluster=None):
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, got {jobs}")
        self.jobs = jobs
        self._close_client = None
        if cluster is not None:
            from uqvit.cluster import RETRIES, connect

            client, self._close_client = connect(cluster)
            self._ex = client.get_executor(retries=RETRIES, pure=False)
        else:
            self._ex = _Inline() if jobs == 1 else cf.ProcessPoolExecutor(jobs)
        self._live: dict[cf.Future, tuple] = {}  # future -> (tag, fn, args, tries)
        self._ready: list[Result] = []  # finished while recovering from a broken pool

    def __len__(self) -> int:
        """Items submitted and not yet handed back by :meth:`results`."""
        return len(self._live) + len(self._ready)

    def submit(self, tag: Hashable, fn: Callable, *args, _tries: int = 0) -> None:
        try:
            f = self._ex.submit(fn, *args)
        except BrokenProcessPool:  # a worker died since the last look: recover, then submit to the fresh pool
            self._recover()
            f = self._ex.submit(fn, *args)
        self._live[f] = (tag, fn, args, _tries)

    def results(self, block: bool) -> list[Result]:
        """The items finished since the last call; with ``block``, waits until at least one is (if any is left)."""
        if self._live and not self._ready:
            cf.wait(self._live, timeout=None if block else 0, return_when=cf.FIRST_COMPLETED)
        if any(f.done() and isinstance(f.exception(), BrokenProcessPool) for f in self._live):
            self._recover()
        for f in [f for f in self._live if f.done()]:
            tag = self._live.pop(f)[0]
            e = f.exception()
            self._ready.append((tag, e is None, f.result() if e is None else _reason(e)))
        out, self._ready = self._ready, []
        return out

    def _recover(self) -> None:
        """The executor is broken: it fails all its unfinished items; rerun them (see the module's docstring)."""
        self._ex.shutdown(wait=True)
        items = list(self._live.items())
        self._live.clear()
        cf.wait([f for f, _ in items])
        self._ex = cf.ProcessPoolExecutor(self.jobs)
        for f, (tag, fn, args, tries) in items:
            e = f.exception()
            if not isinstance(e, BrokenProcessPool):
                self._ready.append((tag, e is None, f.result() if e is None else _reason(e)))
            elif tries == 0:
                self.submit(tag, fn, *args, _tries=1)
            else:
                self._ready.append(self._alone(tag, fn, args))

    @staticmethod
    def _alone(tag: Hashable, fn: Callable, args: tuple) -> Result:
        with cf.ProcessPoolExecutor(1) as ex:
            try:
                return tag, True, ex.submit(fn, *args).result()
            except Exception as e:
                return tag, False, _reason(e)

    def close(self) -> None:
        """Stop: unstarted items are cancelled, running ones finished (their results are dropped)."""
        if self._close_client is None:
            self._ex.shutdown(wait=True, cancel_futures=True)
        else:  # a Dask executor: cancel what is left, then let the client go
            for f in self._live:
                f.cancel()
            self._ex.shutdown(wait=False)
            self._close_client()
        self._live.clear()
