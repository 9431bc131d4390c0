"""Shared plotting helpers: headless figures saved as PNG and PDF, and per-layer curves.

Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot), so
nothing changes the caller's global matplotlib backend and no display is needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..atomic import atomic_path

FORMATS = ("png", "pdf")
AUDIO_COLOR = "tab:red"
VISUAL_COLOR = "tab:blue"


def new_figure(width: float, height: float) -> Any:
    """A matplotlib Figure of ``width`` x ``height`` inches, not tied to any GUI backend."""
    from ..extras import require

    require("analysis", "uavm.analysis.plots", "matplotlib")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def save_figure(fig: Any, stem: str | Path, dpi: int = 150) -> list[Path]:
    """Write ``fig`` to ``stem.png`` and ``stem.pdf`` atomically; returns the paths."""
    paths = []
    for fmt in FORMATS:
        dest = Path(f"{stem}.{fmt}")
        with atomic_path(dest) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi)
        paths.append(dest)
    return paths


def plot_layer_curves(
    curves: Mapping[str, tuple[Sequence[int], Sequence[float]]],
    stem: str | Path,
    ylabel: str,
    title: str,
    shaded: tuple[float, float] | None = None,
    reference: float | None = None,
    colors: Mapping[str, str] | None = None,
) -> list[Path]:
    """Line plot of a metric against layer index, one line per entry of ``curves``.

    ``shaded`` = (first, last) layer of a region to shade (the shared layers);
    ``reference`` draws a dashed horizontal line at chance level.
    """
    fig = new_figure(5.0, 3.2)
    ax = fig.add_subplot()
    if shaded is not None:
        ax.axvspan(shaded[0] - 0.5, shaded[1] + 0.5, color="0.9", label="shared layers")
    if reference is not None:
        ax.axhline(reference, color="0.4", linestyle="--", linewidth=1, label="chance")
    for name, (layers, values) in curves.items():
        color = (colors or {}).get(name)
        ax.plot(list(layers), list(values), "o-", label=name, color=color)
    all_layers = sorted({int(x) for layers, _ in curves.values() for x in layers})
    ax.set_xticks(all_layers)
    ax.set_xlabel("layer (0 = input, last = logits)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, stem)
