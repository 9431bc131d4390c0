"""Resumable training checkpoints: model, optimiser, scheduler, RNG states, progress.

A checkpoint is one ``torch.save`` file of tensors and plain Python values (no
pickled objects), written atomically and read back with ``weights_only=True``.
Model weights meant for users are saved separately with ``uavm.save_model``.

It also records which parameters hold a gradient tensor: with
``zero_grad(set_to_none=False)`` Adam steps every parameter that has one (zeroed
or not), so a resumed run must recreate them (as zeros) to continue exactly.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic import atomic_path
from ..errors import CheckpointError


def capture_rng_state() -> dict[str, Any]:
    """The global RNG states of Python, NumPy (legacy) and torch (CPU and CUDA)."""
    state: dict[str, Any] = {
        "python": _to_plain(random.getstate()),
        "numpy": _to_plain(np.random.get_state(legacy=False)),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Restore :func:`capture_rng_state`'s result (CUDA states only where CUDA is present)."""
    random.setstate(_python_state(state["python"]))
    np_state = dict(state["numpy"])
    np_state["state"] = {k: _to_numpy(v) for k, v in np_state["state"].items()}
    np.random.set_state(np_state)
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


def save_checkpoint(
    path: str | Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    epoch: int,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write everything needed to continue after ``epoch`` (1-based, completed) to ``path`` atomically.

    ``extra`` holds the caller's own progress (plain values and tensors only).
    """
    state = {
        "format": "uavm-train-checkpoint",
        "version": 1,
        "epoch": int(epoch),
        "model": _unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": capture_rng_state(),
        "grad_defined": [name for name, p in _unwrap(model).named_parameters() if p.grad is not None],
        "extra": extra or {},
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(
    path: str | Path,
    *,
    model: torch.nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    restore_rng: bool = True,
    map_location: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Load a checkpoint into the given objects; returns ``{"epoch", "extra", ...}`` (the whole state)."""
    path = Path(path)
    from ..weights import load_tensors_only

    state = load_tensors_only(path, map_location, what="checkpoint")
    if not isinstance(state, dict) or state.get("format") != "uavm-train-checkpoint":
        raise CheckpointError(f"{path}: not a uavm training checkpoint")
    if model is not None:
        try:
            _unwrap(model).load_state_dict(state["model"])
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise CheckpointError(f"{path}: weights do not fit this model ({first})") from None
        with_grad = set(state.get("grad_defined", []))
        for name, p in _unwrap(model).named_parameters():
            p.grad = torch.zeros_like(p) if name in with_grad else None
    if optimizer is not None and state["optimizer"] is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    if restore_rng:
        restore_rng_state(state["rng"])
    return state


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside DDP / DataParallel / torch.compile wrappers."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, torch.nn.Module):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def _to_plain(value: Any) -> Any:
    """Tuples/lists/dicts of ints, strings and tensors (what ``weights_only`` loading accepts)."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def _to_numpy(value: Any) -> Any:
    return value.numpy() if isinstance(value, torch.Tensor) else value


def _python_state(value: Any) -> tuple:
    """``random.setstate`` wants nested tuples back."""
    version, internal, gauss = value
    return (version, tuple(internal), gauss)
