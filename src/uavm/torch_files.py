"""Reading pickled PyTorch files safely: tensors only, and one line when a file is refused.

``torch.load(..., weights_only=True)`` refuses a file whose pickle names other
objects (which could run code), but its message is many lines long and advises
loading with ``weights_only=False``: that advice must never reach a user about a
file that would run code. :func:`load_tensors_only` is the one way uavm calls
``torch.load``; every failure becomes a one-line :class:`~uavm.errors.CheckpointError`.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError


def load_tensors_only(path: str | Path, map_location: str | torch.device = "cpu", what: str = "checkpoint") -> Any:
    """``torch.load`` with ``weights_only=True``; a refused or unreadable file is one line naming it."""
    path = Path(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such {what}") from None
    except Exception as exc:  # noqa: BLE001 - torch raises many types for refused, corrupt or foreign files
        raise CheckpointError(f"{path}: {load_problem(exc, path, what)}") from None


def load_problem(exc: BaseException, path: str | Path | None = None, what: str = "checkpoint") -> str:
    """One line for why ``torch.load`` failed, without torch's advice to load with ``weights_only=False``."""
    text = str(exc)
    complaint = re.search(r"WeightsUnpickler error:(.*)", text)
    is_archive = path is not None and Path(path).is_file() and zipfile.is_zipfile(path)
    if isinstance(exc, pickle.UnpicklingError) and (
            "GLOBAL" in text or (complaint and complaint.group(1).strip())
            or (is_archive and "Weights only load failed" in text)):
        # the unpickler stopped at something that is not a tensor: that is a refusal, not a bad file
        found = re.search(r"GLOBAL ([\w.]+)", text)
        named = f" ({found.group(1)})" if found else ""
        return (f"refused: the file holds pickled objects other than tensors{named}, "
                "and loading them could run code; use a safetensors or tensors-only file")
    if path is not None and Path(path).is_file() and not is_archive:
        return f"not a readable {what}: not a checkpoint file (neither a PyTorch archive nor safetensors), or truncated"
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    if "weights_only" in first or "Weights only" in first:  # torch's advice, never shown
        first = "the tensors-only unpickler could not read it"
    return f"not a readable {what} ({type(exc).__name__}: {first})"
