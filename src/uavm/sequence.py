"""Fixed-length time sequences: the one rule for fitting ``[..., T, D]`` features or fbanks to a length.

Used for a clip's feature sequences (training, prediction) and for log-mel frames
(the audio-encoder input): both cut at the end or zero-pad at the end.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

Array = TypeVar("Array", np.ndarray, torch.Tensor)


def pad_or_cut(x: Array, length: int) -> Array:
    """Cut a ``[..., T, D]`` array or tensor to ``length`` steps or zero-pad it at the end (same type back)."""
    have = x.shape[-2]
    if have == length:
        return x
    if have > length:
        return x[..., :length, :]
    if isinstance(x, torch.Tensor):
        return torch.nn.functional.pad(x, (0, 0, 0, length - have))
    pad = [(0, 0)] * x.ndim
    pad[-2] = (0, length - have)
    return np.pad(x, pad)
