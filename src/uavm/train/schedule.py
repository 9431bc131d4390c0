"""Optimiser and learning-rate schedules of the reference recipes.

Adam with betas (0.95, 0.999) and weight decay 5e-7; an epoch-level schedule:
MultiStepLR with milestones ``start, start+step, ...`` and factor ``decay``, or
ReduceLROnPlateau (factor 0.5, patience 2) on the main metric (higher is
better); optionally a linear warm-up over the first optimiser steps.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from ..errors import ConfigError

ADAM_BETAS = (0.95, 0.999)
WEIGHT_DECAY = 5e-7
MAX_EPOCHS = 1000  # the milestone list runs this far, as the reference's range(start, 1000, step)


def build_optimizer(
    params: Iterable[torch.nn.Parameter],
    lr: float,
    *,
    betas: tuple[float, float] = ADAM_BETAS,
    weight_decay: float = WEIGHT_DECAY,
) -> torch.optim.Adam:
    """Adam over the parameters that require gradients."""
    trainable = [p for p in params if p.requires_grad]
    return torch.optim.Adam(trainable, lr=lr, betas=betas, weight_decay=weight_decay)


def milestones(start: int, step: int, last: int = MAX_EPOCHS) -> list[int]:
    """Epoch milestones ``start, start+step, ...`` below ``last``."""
    if start < 0 or step < 1:
        raise ConfigError(f"scheduler start must be >= 0 and step >= 1 (got start={start}, step={step})")
    return list(range(start, last, step))


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    kind: str = "multistep",
    *,
    start: int = 1,
    step: int = 1,
    decay: float = 0.5,
    patience: int = 2,
    factor: float = 0.5,
) -> torch.optim.lr_scheduler.LRScheduler | torch.optim.lr_scheduler.ReduceLROnPlateau:
    """The epoch-level scheduler ``"multistep"`` or ``"plateau"`` (stepped with the main metric)."""
    if kind == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones(start, step), gamma=decay)
    if kind == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=factor, patience=patience)
    raise ConfigError(f"unknown scheduler {kind!r} (use multistep or plateau)")


def step_scheduler(scheduler: Any, metric: float) -> None:
    """End-of-epoch step: ReduceLROnPlateau gets the main metric, the others nothing."""
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(metric)
    else:
        scheduler.step()


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    """The learning rate of the first parameter group."""
    return float(optimizer.param_groups[0]["lr"])


class LinearWarmup:
    """Linear warm-up: at optimiser step ``s < steps`` the lr is ``lr · (s+1) / steps``.

    Call :meth:`step` with the global step before each ``optimizer.step()``. The
    first step already trains (no zero-lr steps) and the last warm-up step
    reaches the full lr. It scales the lr the epoch schedule set at the start,
    so it must end before the schedule's first change (checked by
    :meth:`check_fits`).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, steps: int):
        self.optimizer = optimizer
        self.steps = int(steps)
        self.base_lrs = [float(g["lr"]) for g in optimizer.param_groups]

    def check_fits(self, steps_before_first_change: int) -> None:
        """Raise :class:`ConfigError` when warm-up would overlap the epoch schedule's first lr change."""
        if self.steps > steps_before_first_change:
            raise ConfigError(
                f"warm-up of {self.steps} steps overlaps the first lr decay after {steps_before_first_change} steps"
            )

    def step(self, global_step: int) -> None:
        """Set the lr for optimiser step ``global_step`` (0-based)."""
        if global_step > self.steps:
            return
        scale = min(1.0, (global_step + 1) / self.steps) if self.steps > 0 else 1.0
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * scale

    def state_dict(self) -> dict[str, Any]:
        """State for resuming."""
        return {"steps": self.steps, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.steps = int(state["steps"])
        self.base_lrs = [float(x) for x in state["base_lrs"]]
