"""Modality probe per layer: can a linear classifier tell audio from visual?

Each clip contributes its time-pooled audio representation (class 0) and its visual
one (class 1). The classifier is the reference's L1-penalised logistic regression
(scikit-learn, liblinear). Clips are split clip-disjointly: a clip's audio and visual
rows are both in training or both in test. The default split is a seeded random one;
``split="halves"`` is the reference's first-half / second-half split (docs/reference.md: the
reference then shuffled the training rows without a seed; liblinear here is seeded).
Test accuracy ≈ 1 means the layer is modality-specific, ≈ 0.5 modality-agnostic.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

SPLITS = ("random", "halves")


def clip_split(
    n_clips: int, split: str = "random", seed: int = 0, test_fraction: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (train, test) clip indices; disjoint, together all ``n_clips`` clips."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if n_clips < 2:
        raise ValueError(f"the probe needs at least 2 clips, got {n_clips}")
    if split == "halves":
        half = n_clips // 2
        return np.arange(half), np.arange(half, n_clips)
    n_test = min(max(1, round(n_clips * test_fraction)), n_clips - 1)
    order = np.random.default_rng(seed).permutation(n_clips)
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def _modality_rows(audio: np.ndarray, visual: np.ndarray, clips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.concatenate([np.asarray(audio[clips], np.float64), np.asarray(visual[clips], np.float64)])
    y = np.concatenate([np.zeros(len(clips), np.int64), np.ones(len(clips), np.int64)])
    return x, y


def _l1_penalty() -> dict[str, Any]:
    """The L1 penalty argument: ``l1_ratio=1`` from scikit-learn 1.8 (``penalty`` deprecated)."""
    from ..extras import require

    require("analysis", "uavm.analysis.probe", "sklearn")
    import sklearn

    major, minor = (int(p) for p in sklearn.__version__.split(".")[:2])
    return {"l1_ratio": 1.0} if (major, minor) >= (1, 8) else {"penalty": "l1"}


def probe_accuracy(
    audio: np.ndarray,
    visual: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    C: float = 1.0,
    seed: int = 0,
) -> dict[str, float]:
    """Fit the L1 logistic-regression probe on ``train`` clips; train and test accuracy."""
    from ..extras import require

    require("analysis", "uavm.analysis.probe", "sklearn")
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    x_train, y_train = _modality_rows(audio, visual, train)
    x_test, y_test = _modality_rows(audio, visual, test)
    probe = LogisticRegression(solver="liblinear", C=C, random_state=seed, max_iter=1000, **_l1_penalty())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        probe.fit(x_train, y_train)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return {
        "train_acc": float(probe.score(x_train, y_train)),
        "test_acc": float(probe.score(x_test, y_test)),
        "converged": converged,
    }


def probe_by_layer(
    audio: dict[int, np.ndarray],
    visual: dict[int, np.ndarray],
    split: str = "random",
    seed: int = 0,
    test_fraction: float = 0.5,
    C: float = 1.0,
) -> list[dict[str, Any]]:
    """One row per layer: ``layer``, ``train_acc``, ``test_acc``, clip counts, ``converged``."""
    layers = sorted(audio)
    n_clips = len(audio[layers[0]])
    train, test = clip_split(n_clips, split, seed, test_fraction)
    rows = []
    for layer in layers:
        result = probe_accuracy(audio[layer], visual[layer], train, test, C=C, seed=seed)
        rows.append({"layer": layer, **result, "n_train_clips": len(train), "n_test_clips": len(test)})
    return rows


def plot_probe(rows: list[dict[str, Any]], stem: str, shaded: tuple[int, int] | None = None) -> list:
    """Probe test accuracy against layer, chance (0.5) dashed (the paper's Figure 3(a) style)."""
    from .plots import plot_layer_curves

    curves = {"test accuracy": ([r["layer"] for r in rows], [r["test_acc"] for r in rows])}
    return plot_layer_curves(curves, stem, "audio-vs-visual accuracy", "Modality probe", shaded, 0.5)
