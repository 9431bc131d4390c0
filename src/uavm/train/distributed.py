"""Distributed data-parallel set-up for ``torchrun``: NCCL on GPUs, gloo on CPU.

``torchrun --nproc-per-node N -m uavm train ...`` (multi-node with torchrun's
``--nnodes``/``--rdzv-*`` flags) sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``;
without them everything runs as a single process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist



@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job and the device it computes on."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def pick_device(preference: str = "auto", local_rank: int = 0) -> torch.device:
    """``auto``: this rank's GPU when CUDA is available, else the CPU (:func:`uavm.device.resolve_device`)."""
    from ..device import resolve_device

    return resolve_device(preference, local_rank)


def init_distributed(preference: str = "auto") -> DistInfo:
    """Join the ``torchrun`` process group if there is one; return this process's :class:`DistInfo`."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(preference, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank, device=device)


def teardown() -> None:
    """Leave the process group (if joined)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    """Wait for every rank."""
    if info.distributed:
        dist.barrier()


def gather_rows(x: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Concatenate every rank's ``[n_r, ...]`` rows in rank order (the ``n_r`` may differ)."""
    if not info.distributed:
        return x
    backend_device = info.device if dist.get_backend() == "nccl" else torch.device("cpu")
    local = x.to(backend_device)
    sizes = [torch.zeros(1, dtype=torch.long, device=backend_device) for _ in range(info.world_size)]
    dist.all_gather(sizes, torch.tensor([len(local)], device=backend_device))
    longest = int(max(s.item() for s in sizes))
    padded = torch.zeros((longest, *local.shape[1:]), dtype=local.dtype, device=backend_device)
    padded[: len(local)] = local
    parts = [torch.empty_like(padded) for _ in range(info.world_size)]
    dist.all_gather(parts, padded)
    return torch.cat([p[: int(s.item())] for p, s in zip(parts, sizes)]).to(x.device)


def shard_range(n: int, info: DistInfo) -> tuple[int, int]:
    """This rank's contiguous share ``[start, stop)`` of ``n`` items."""
    per = -(-n // info.world_size)
    start = min(n, info.rank * per)
    return start, min(n, start + per)
