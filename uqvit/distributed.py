"""Multi-process evaluation under ``torchrun``: sharding without padding, summed counts.

``torch.utils.data.DistributedSampler`` pads every shard to equal length with repeated
images, which would count some images twice; :class:`UnpaddedDistributedSampler` gives
rank r the indices ``r, r + world, r + 2*world, ...`` instead, so the union of the shards
is exactly the data set and the summed counts equal a single-process run.  Ranks with no
images (world size larger than the data) still take part in every collective, so nothing
hangs.
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler


def world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_from_env(device: str) -> tuple[int, int, str]:
    """Join the torchrun process group if ``WORLD_SIZE > 1``; returns (rank, world, device)."""
    n = int(os.environ.get("WORLD_SIZE", "1"))
    if n <= 1:
        return 0, 1, device
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        dist.init_process_group(backend=backend)
    rank = dist.get_rank()
    if device.startswith("cuda"):
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', rank))}"
    return rank, dist.get_world_size(), device


def finish(barrier: bool = True) -> None:
    """Leave the process group cleanly; without it gloo's threads can abort the interpreter at exit
    ("terminate called without an active exception") after the work is done.  ``barrier=False`` when
    leaving on an error, which the other ranks may not share (a barrier could then wait forever)."""
    if dist.is_available() and dist.is_initialized():
        if barrier:
            dist.barrier()
        dist.destroy_process_group()


class UnpaddedDistributedSampler(DistributedSampler):
    def __init__(self, dataset, num_replicas: int, rank: int):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False, drop_last=False)
        self._indices = list(range(rank, len(dataset), num_replicas))

    def __iter__(self):
        return iter(self._indices)

    def __len__(self) -> int:
        return len(self._indices)


def all_sum(values: list[int], device) -> list[int]:
    if world()[1] == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return [int(v) for v in t.tolist()]
