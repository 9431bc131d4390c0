"""Attention maps per block for audio and visual inputs (the paper's Figures 4–5).

Per block (layer k = the k-th block), streamed over the clips:

* the mean attention map over clips ``[heads, T, T]`` for audio and for visual inputs;
* the mean absolute difference between a clip's audio map and its visual map, averaged
  over clips, heads and positions (``mad``, the reference's measure), and the same
  between the two mean maps (``mad_of_means``);
* per head, the attention each time step receives: the mean over queries (rows) of the
  mean map, ``[heads, T]`` (each head's row sums to 1). The reference plotted one clip's
  map with each row divided by its maximum instead; the mean over clips is less noisy.

The maps are the probabilities the blocks really use. ``pre_norm=True`` gives the
reference analysis' maps computed without the block's ``norm1`` (see docs/reference.md), only to
compare numbers with the paper.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..device import resolve_device
from ..modality import LONG_NAMES
from ..progress import progress_bar
from .representations import Batch, model_arch, to_tensor


@dataclass
class AttentionSummary:
    """Mean maps per block, ``[heads, T, T]``, for audio and visual inputs, and their differences."""

    audio: list[np.ndarray]
    visual: list[np.ndarray]
    mad: list[float]
    n_clips: int
    pre_norm: bool = False
    joint: list[np.ndarray] = field(default_factory=list)

    @property
    def layers(self) -> list[int]:
        """Layer index of each block's output (block ``i`` from the bottom is layer ``i + 1``)."""
        return list(range(1, len(self.audio) + 1))

    def rows(self) -> list[dict[str, Any]]:
        """One row per block: ``layer``, ``mad``, ``mad_of_means``."""
        return [
            {"layer": layer, "mad": mad, "mad_of_means": mean_abs_difference(a, v)}
            for layer, mad, a, v in zip(self.layers, self.mad, self.audio, self.visual)
        ]


def mean_abs_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean of ``|a - b|`` over all entries."""
    return float(np.mean(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def received_attention(mean_map: np.ndarray) -> np.ndarray:
    """Attention each key position receives per head: the mean over queries ``[heads, T]``."""
    return np.asarray(mean_map).mean(axis=-2)


def _maps(model: nn.Module, audio: torch.Tensor, visual: torch.Tensor, pre_norm: bool) -> tuple[list, list, list]:
    if model_arch(model) == "cross_attention":
        return model.attention_maps(audio, visual, pre_norm=pre_norm)
    return model.attention_maps(audio, "a", pre_norm=pre_norm), model.attention_maps(visual, "v", pre_norm=pre_norm), []


def summarize_attention(
    model: nn.Module,
    batches: Iterable[Batch],
    pre_norm: bool = False,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> AttentionSummary:
    """Stream ``batches`` of ``(audio, visual, labels)`` through ``model``; mean maps and differences.

    Memory holds only per-block sums, whatever the number of clips. For the
    cross-attention model the audio/visual maps are the modality-specific blocks' and
    the joint blocks' mean maps (over the 2T audio-then-visual positions) go to ``joint``.
    """
    device = resolve_device(device)
    model = model.to(device).eval()
    sums: dict[str, list[torch.Tensor]] = {}
    mad_sums: list[torch.Tensor] = []
    n_clips = 0
    total = len(batches) if hasattr(batches, "__len__") else None
    with torch.inference_mode():
        for audio, visual, _ in progress_bar(batches, total=total, desc="attention", unit="batch", enabled=progress):
            a_maps, v_maps, joint = _maps(model, to_tensor(audio, device), to_tensor(visual, device), pre_norm)
            for name, maps in (("audio", a_maps), ("visual", v_maps), ("joint", joint)):
                batch_sums = [m.double().sum(dim=0) for m in maps]
                sums[name] = batch_sums if name not in sums else [s + b for s, b in zip(sums[name], batch_sums)]
            batch_mad = [(a.double() - v.double()).abs().mean(dim=(1, 2, 3)).sum() for a, v in zip(a_maps, v_maps)]
            mad_sums = batch_mad if not mad_sums else [s + b for s, b in zip(mad_sums, batch_mad)]
            n_clips += len(audio)
    if n_clips == 0:
        raise ValueError("no clips to analyse: the data yielded no batches")

    def means(name: str) -> list[np.ndarray]:
        return [(s / n_clips).float().cpu().numpy() for s in sums.get(name, [])]

    return AttentionSummary(
        audio=means("audio"),
        visual=means("visual"),
        mad=[float(s / n_clips) for s in mad_sums],
        n_clips=n_clips,
        pre_norm=pre_norm,
        joint=means("joint"),
    )


def save_attention_maps(summary: AttentionSummary, dest: str | Path) -> Path:
    """All mean maps in one ``.npz`` (keys ``audio_<layer>``, ``visual_<layer>``, ``joint_<i>``)."""
    from ..atomic import atomic_path

    arrays = {f"audio_{k}": a for k, a in zip(summary.layers, summary.audio)}
    arrays.update({f"visual_{k}": v for k, v in zip(summary.layers, summary.visual)})
    arrays.update({f"joint_{i}": j for i, j in enumerate(summary.joint)})
    dest = Path(dest)
    with atomic_path(dest) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    return dest


def plot_mean_maps(summary: AttentionSummary, stem: str | Path) -> list[Path]:
    """Grid: one row per block; audio map, visual map (head-averaged) and their absolute difference."""
    from .plots import new_figure, save_figure

    n = len(summary.layers)
    fig = new_figure(7.5, 2.3 * n)
    axes = fig.subplots(n, 3, squeeze=False)
    for row, (layer, a, v) in enumerate(zip(summary.layers, summary.audio, summary.visual)):
        a_mean, v_mean = a.mean(axis=0), v.mean(axis=0)
        vmax = max(a_mean.max(), v_mean.max())
        for col, (title, image, top) in enumerate(
            (("audio", a_mean, vmax), ("visual", v_mean, vmax), ("|audio - visual|", np.abs(a_mean - v_mean), vmax))
        ):
            ax = axes[row, col]
            shown = ax.imshow(image, vmin=0, vmax=top, cmap="viridis")
            ax.set_title(f"layer {layer}: {title}", fontsize=9)
            ax.set_xlabel("key", fontsize=8)
            ax.set_ylabel("query", fontsize=8)
        fig.colorbar(shown, ax=axes[row, :].tolist(), shrink=0.8)
    fig.suptitle("Mean attention maps" + (" (reference pre-norm maps)" if summary.pre_norm else ""))
    return save_figure(fig, stem)


def plot_received_attention(summary: AttentionSummary, stem: str | Path) -> list[Path]:
    """The paper's Figure 5: per block, a ``[heads, T]`` image of attention received per time step."""
    from .plots import new_figure, save_figure

    n = len(summary.layers)
    fig = new_figure(9.0, 1.1 * n + 0.8)
    axes = fig.subplots(n, 2, squeeze=False)
    for row, (layer, a, v) in enumerate(zip(summary.layers, summary.audio, summary.visual)):
        images = received_attention(a), received_attention(v)
        vmin, vmax = min(image.min() for image in images), max(image.max() for image in images)
        for col, (name, image) in enumerate(zip(LONG_NAMES, images)):
            ax = axes[row, col]
            shown = ax.imshow(image, vmin=vmin, vmax=vmax, aspect="auto", cmap="magma")
            ax.set_yticks(range(image.shape[0]), [f"h{h + 1}" for h in range(image.shape[0])], fontsize=7)
            ax.set_ylabel(f"layer {layer}", fontsize=8)
            if row == 0:
                ax.set_title(f"{name} input", fontsize=10)
            if row == n - 1:
                ax.set_xlabel("time step (key)", fontsize=8)
        fig.colorbar(shown, ax=axes[row, :].tolist(), shrink=0.9)
    fig.suptitle("Attention received per time step, per head")
    return save_figure(fig, stem)


def plot_attention_difference(
    summary: AttentionSummary, stem: str | Path, shaded: tuple[int, int] | None = None
) -> list[Path]:
    """Mean absolute audio/visual attention difference against layer (the paper's Figure 4 style)."""
    from .plots import plot_layer_curves

    rows = summary.rows()
    layers = [r["layer"] for r in rows]
    curves = {
        "per clip (mad)": (layers, [r["mad"] for r in rows]),
        "of the mean maps": (layers, [r["mad_of_means"] for r in rows]),
    }
    return plot_layer_curves(curves, stem, "mean |A_audio - A_visual|", "Audio vs visual attention", shaded)
