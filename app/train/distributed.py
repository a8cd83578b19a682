"""Data-parallel training under `torchrun`: gloo on CPU, nccl on CUDA, a DistributedSampler, rank 0 writes.

Without torchrun's environment (RANK, WORLD_SIZE) everything runs as one process of world size 1.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler


@dataclass(frozen=True)
class World:
    """This process's place: rank, world size, and the device it trains on."""

    rank: int
    size: int
    device: torch.device

    @property
    def main(self) -> bool:
        """Rank 0: the one process that logs and writes files."""
        return self.rank == 0


def join(device: torch.device) -> World:
    """Join the process group torchrun describes (gloo for CPU, nccl for CUDA); alone when there is none."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World(0, 1, device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return World(dist.get_rank(), dist.get_world_size(), device)


def wrap(module: torch.nn.Module, world: World) -> torch.nn.Module:
    """The module in DistributedDataParallel when there are several processes (unused parameters allowed)."""
    if world.size <= 1:
        return module
    ids = [world.device.index] if world.device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(module, device_ids=ids, find_unused_parameters=True)


def batches(n: int, batch_size: int, world: World, seed: int, epoch: int = 0) -> Iterator[list[int]]:
    """This rank's batches of positions into `n` items, epoch after epoch (DistributedSampler, reshuffled each)."""
    sampler = DistributedSampler(range(n), num_replicas=world.size, rank=world.rank, shuffle=True, seed=seed)
    while True:
        sampler.set_epoch(epoch)
        order = list(sampler)
        for start in range(0, len(order) - batch_size + 1, batch_size):
            yield order[start:start + batch_size]
        if len(order) < batch_size:
            yield order
        epoch += 1


def barrier(world: World) -> None:
    """Wait for every rank (no-op alone)."""
    if world.size > 1:
        dist.barrier()


def leave(world: World) -> None:
    """Leave the process group."""
    if world.size > 1 and dist.is_initialized():
        dist.destroy_process_group()
