"""t-SNE per layer: separable modalities stay apart in 2-D, identical ones mix."""

from __future__ import annotations

import numpy as np

from uavm.analysis.representations import LayerRepresentations
from uavm.analysis.tsne import plot_tsne, tsne_by_layer, tsne_rows


def _neighbour_same_modality(points: np.ndarray) -> float:
    """Fraction of points whose nearest other point has the same modality (independent check)."""
    n = len(points) // 2
    modality = np.r_[np.zeros(n), np.ones(n)]
    dist = ((points[:, None, :] - points[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(dist, np.inf)
    return float(np.mean(modality[dist.argmin(axis=1)] == modality))


def test_separable_layer_separates_identical_layer_mixes(tmp_path):
    rng = np.random.default_rng(0)
    n = 80
    audio = {0: rng.normal(size=(n, 10)) + 4.0, 1: rng.normal(size=(n, 10))}
    visual = {0: rng.normal(size=(n, 10)) - 4.0, 1: rng.normal(size=(n, 10))}
    reps = LayerRepresentations([0, 1], audio, visual)
    embeddings, clips = tsne_by_layer(reps, max_clips=60, seed=0)
    assert len(clips) == 60 and embeddings[0].shape == (120, 2)
    separated, mixed = _neighbour_same_modality(embeddings[0]), _neighbour_same_modality(embeddings[1])
    print(f"same-modality nearest neighbour: separable {separated:.2f}, identical {mixed:.2f}")
    assert separated > 0.95 and mixed < 0.7

    rows = tsne_rows(embeddings, clips)
    assert len(rows) == 240 and rows[0]["modality"] == "audio" and rows[60]["modality"] == "visual"
    assert rows[60]["clip"] == rows[0]["clip"] == clips[0]
    paths = plot_tsne(embeddings, tmp_path / "tsne")
    assert all(p.stat().st_size > 1000 for p in paths)
