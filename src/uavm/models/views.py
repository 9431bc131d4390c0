"""The three views of a model's prediction: audio only, visual only and fused (:data:`uavm.modality.VIEWS`).

Unified and independent models see one modality at a time; the fused view is the mean of the
audio-only and visual-only logits (averaged in float32). The cross-attention model always takes
both modalities: its fused view is one pass with both, and its audio-only (visual-only) view is a
pass with the other modality's features replaced by zeros. Prediction, the timeline and
evaluation all score the views here.
"""

from __future__ import annotations

import torch
from torch import nn

from ..modality import VIEWS


def view_logits(model: nn.Module, a: torch.Tensor | None, v: torch.Tensor | None) -> dict[str, torch.Tensor | None]:
    """Logits ``[B, C]`` of each view in :data:`VIEWS` for audio ``a`` / visual ``v`` features ``[B, T, D]``.

    A modality given as ``None`` is missing: its view and the fused view are ``None``. A
    cross-attention model's missing modality is fed zeros of the other's shape for the view
    that exists.
    """
    if a is None and v is None:
        return dict.fromkeys(VIEWS)
    if model.config.arch == "cross_attention":
        a0 = a if a is not None else torch.zeros_like(v)
        v0 = v if v is not None else torch.zeros_like(a)
        logits = {
            "a": model(a0, torch.zeros_like(v0)) if a is not None else None,
            "v": model(torch.zeros_like(a0), v0) if v is not None else None,
            "av": model(a0, v0) if a is not None and v is not None else None,
        }
    else:
        la = model(a, "a") if a is not None else None
        lv = model(v, "v") if v is not None else None
        fused = (la.float() + lv.float()) / 2 if la is not None and lv is not None else None
        logits = {"a": la, "v": lv, "av": fused}
    return {view: logits[view] for view in VIEWS}
