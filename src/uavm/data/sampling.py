"""Class-balanced sampling: per-clip weights and the seeded draw of one epoch.

A clip's weight is the sum over its labels of ``1000 / (count(label) + 0.01)``,
``count`` being the label's frequency in the training set; an epoch draws
``len(train)`` clips with replacement in proportion to these weights. The draw
of epoch ``e`` is a pure function of ``(seed, e)``, so a resumed run and every
DDP rank see the same epoch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .label_index import LabelIndex

WEIGHT_NUMERATOR = 1000.0
COUNT_OFFSET = 0.01


def label_counts(label_indices: Sequence[Sequence[int]], num_classes: int) -> np.ndarray:
    """How many clips carry each class (a clip listing a class twice counts twice, as the reference)."""
    index = LabelIndex.from_lists(label_indices)
    return np.bincount(index.classes, minlength=num_classes).astype(np.float64)


def balanced_weights(label_indices: Sequence[Sequence[int]], num_classes: int) -> np.ndarray:
    """Per-clip sampling weights: sum over the clip's labels of ``1000 / (count + 0.01)``."""
    index = LabelIndex.from_lists(label_indices)
    label_weight = WEIGHT_NUMERATOR / (label_counts(index, num_classes) + COUNT_OFFSET)
    rows = np.repeat(np.arange(len(index)), index.counts())
    return np.bincount(rows, weights=label_weight[index.classes], minlength=len(index))


def epoch_rng(seed: int, epoch: int, stream: int = 0) -> np.random.Generator:
    """The generator of one epoch's random draws; ``stream`` separates independent uses."""
    return np.random.default_rng([seed, epoch, stream])


def draw_epoch(n_items: int, num_draws: int, weights: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """``num_draws`` indices: weighted with replacement, or a shuffle (no replacement) without weights."""
    if weights is None:
        if num_draws > n_items:
            raise ValueError("an unweighted epoch cannot draw more clips than there are")
        return rng.permutation(n_items)[:num_draws]
    p = np.asarray(weights, dtype=np.float64)
    if p.shape != (n_items,) or not np.all(np.isfinite(p)) or (p < 0).any() or p.sum() <= 0:
        raise ValueError("sampling weights must be finite, non-negative, one per item, not all zero")
    return rng.choice(n_items, size=num_draws, replace=True, p=p / p.sum())
