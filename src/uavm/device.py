"""Choosing the torch device: one rule for every command and API.

``"auto"`` (or ``None``) means this process's GPU when CUDA is available (``LOCAL_RANK``
under torchrun), else the CPU; anything else must be a torch device name whose
hardware is present.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from .errors import ConfigError

AUTO = "auto"


def resolve_device(preference: str | torch.device | None = AUTO, local_rank: int | None = None) -> torch.device:
    """The device to run on; a one-line :class:`ConfigError` for a name that is not usable here."""
    if isinstance(preference, torch.device):
        preference = str(preference)
    rank = int(os.environ.get("LOCAL_RANK", "0")) if local_rank is None else local_rank
    if preference is None or preference == AUTO:
        if torch.cuda.is_available():
            return torch.device(f"cuda:{rank % torch.cuda.device_count()}")
        return torch.device("cpu")
    if not isinstance(preference, str):
        raise ConfigError(f"device {preference!r} is not a device name (auto, cpu, cuda, cuda:N)")
    try:
        device = torch.device(preference)
    except (RuntimeError, ValueError):
        raise ConfigError(f"device {preference!r} is not a torch device (auto, cpu, cuda, cuda:N)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {preference!r} asked for, but CUDA is not available")
        if device.index is None:
            device = torch.device(f"cuda:{rank % torch.cuda.device_count()}")
    elif device.type not in ("cpu", "mps", "meta"):
        raise ConfigError(f"device {preference!r} is not supported (auto, cpu, cuda, cuda:N)")
    return device


def use_bf16(device: torch.device, requested: bool | None) -> bool:
    """Whether to run in bfloat16 autocast: as requested, else on CUDA only (CPUs may emulate bf16 slowly)."""
    return device.type == "cuda" if requested is None else bool(requested)


@contextmanager
def torch_threads(at_most: int) -> Iterator[None]:
    """At most ``at_most`` torch intra-op CPU threads inside the block; the count before is restored after."""
    before = torch.get_num_threads()
    if before > at_most:
        torch.set_num_threads(at_most)
    try:
        yield
    finally:
        if before > at_most:
            torch.set_num_threads(before)
