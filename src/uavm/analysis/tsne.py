"""2-D t-SNE of audio and visual representations per layer (the paper's Figure 3(d)).

Audio and visual rows of the same layer are embedded together, so the picture shows
whether the two modalities form separate clouds (modality-specific layers) or mix
(shared layers). Audio is drawn red, visual blue. t-SNE is quadratic-ish in the
number of points, so a seeded subset of clips is used by default.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .representations import LayerRepresentations


def tsne_embedding(audio: np.ndarray, visual: np.ndarray, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """2-D t-SNE of the stacked rows ``[audio; visual]`` → ``[2n, 2]`` (audio rows first)."""
    from ..extras import require

    require("analysis", "uavm.analysis.tsne", "sklearn")
    from sklearn.manifold import TSNE

    x = np.concatenate([np.asarray(audio, np.float32), np.asarray(visual, np.float32)])
    if len(x) < 4:
        raise ValueError(f"t-SNE needs at least 2 clips, got {len(x) // 2}")
    perplexity = min(perplexity, (len(x) - 1) / 3)
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)


def tsne_by_layer(
    reps: LayerRepresentations,
    layers: Sequence[int] | None = None,
    max_clips: int | None = 1000,
    seed: int = 0,
    perplexity: float = 30.0,
) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """Per-layer embeddings ``[2n, 2]`` and the clip indices used (a seeded subset of ``max_clips``)."""
    clips = np.arange(len(reps))
    if max_clips is not None and len(clips) > max_clips:
        clips = np.sort(np.random.default_rng(seed).choice(clips, size=max_clips, replace=False))
    layers = list(layers) if layers is not None else reps.layers
    embeddings = {
        layer: tsne_embedding(reps.audio[layer][clips], reps.visual[layer][clips], seed, perplexity) for layer in layers
    }
    return embeddings, clips


def tsne_rows(embeddings: dict[int, np.ndarray], clips: np.ndarray) -> list[dict[str, Any]]:
    """Long-format rows ``layer, clip, modality, x, y`` for a CSV."""
    rows = []
    for layer, points in embeddings.items():
        n = len(clips)
        for i, (x, y) in enumerate(points):
            rows.append(
                {
                    "layer": layer,
                    "clip": int(clips[i % n]),
                    "modality": "audio" if i < n else "visual",
                    "x": float(x),
                    "y": float(y),
                }
            )
    return rows


def plot_tsne(
    embeddings: dict[int, np.ndarray], stem: str | Path, title: str = "t-SNE of audio and visual representations"
) -> list[Path]:
    """One scatter panel per layer: audio red, visual blue."""
    from .plots import AUDIO_COLOR, VISUAL_COLOR, new_figure, save_figure

    layers = sorted(embeddings)
    cols = min(4, len(layers))
    rows = -(-len(layers) // cols)
    fig = new_figure(3.0 * cols, 3.0 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, layer in zip(axes, layers):
        points = embeddings[layer]
        n = len(points) // 2
        ax.scatter(points[:n, 0], points[:n, 1], s=4, c=AUDIO_COLOR, label="audio", alpha=0.6)
        ax.scatter(points[n:, 0], points[n:, 1], s=4, c=VISUAL_COLOR, label="visual", alpha=0.6)
        ax.set_title(f"layer {layer}", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[len(layers) :]:
        ax.set_visible(False)
    axes[0].legend(fontsize=8, markerscale=3)
    fig.suptitle(title)
    return save_figure(fig, stem)
