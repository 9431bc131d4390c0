"""Class-balanced sampling (SPEC §4) and an epoch sampler that also works under DDP.

A clip's weight is the sum over its labels of ``1000 / (count(label) + 0.01)``,
``count`` being the label's frequency in the training set; an epoch draws
``len(train)`` clips with replacement in proportion to these weights. The draw
of epoch ``e`` is a pure function of ``(seed, e)``, so a resumed run and every
DDP rank see the same epoch; rank ``r`` of ``W`` takes positions ``r, r+W, ...``,
which makes its step-``i`` batch of size ``B/W`` one interleaved slice of the
single-process step-``i`` batch of size ``B``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch.utils.data

WEIGHT_NUMERATOR = 1000.0
COUNT_OFFSET = 0.01


def label_counts(label_indices: Sequence[Sequence[int]], num_classes: int) -> np.ndarray:
    """How many clips carry each class (a clip listing a class twice counts twice, as the reference)."""
    counts = np.zeros(num_classes, dtype=np.float64)
    flat = np.fromiter((i for labels in label_indices for i in labels), dtype=np.int64)
    np.add.at(counts, flat, 1.0)
    return counts


def balanced_weights(label_indices: Sequence[Sequence[int]], num_classes: int) -> np.ndarray:
    """Per-clip sampling weights: sum over the clip's labels of ``1000 / (count + 0.01)``."""
    label_weight = WEIGHT_NUMERATOR / (label_counts(label_indices, num_classes) + COUNT_OFFSET)
    return np.array([label_weight[list(labels)].sum() for labels in label_indices], dtype=np.float64)


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


def rank_share(indices: np.ndarray, rank: int, world_size: int) -> np.ndarray:
    """Rank ``rank``'s positions ``rank, rank+W, ...`` of an epoch, equal length on every rank."""
    per_rank = len(indices) // world_size
    return indices[rank : per_rank * world_size : world_size]


class EpochSampler(torch.utils.data.Sampler[int]):
    """A DataLoader sampler: balanced (``weights`` given) or shuffled, deterministic per ``(seed, epoch)``.

    Call :meth:`set_epoch` before each epoch. Under DDP every rank builds it with
    its ``rank`` / ``world_size`` and iterates its own share of the same draw.
    """

    def __init__(
        self,
        n_items: int,
        weights: np.ndarray | None = None,
        num_samples: int | None = None,
        *,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ):
        self.n_items = n_items
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float64)
        self.num_samples = n_items if num_samples is None else num_samples
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose draw the next iteration yields."""
        self.epoch = epoch

    def epoch_indices(self) -> np.ndarray:
        """This rank's indices for the current epoch."""
        full = draw_epoch(self.n_items, self.num_samples, self.weights, epoch_rng(self.seed, self.epoch))
        return rank_share(full, self.rank, self.world_size)

    def __iter__(self) -> Iterator[int]:
        return iter(self.epoch_indices().tolist())

    def __len__(self) -> int:
        return self.num_samples // self.world_size
