"""Every clip's class indices as two flat arrays (CSR), so millions of clips cost no Python objects.

``offsets[i]:offsets[i + 1]`` delimits clip ``i``'s classes in ``classes``. It reads
like a list of lists (``index[i]`` is a list) and hands whole batches to NumPy
(:meth:`LabelIndex.pairs`), which is what sampling weights and batched targets use.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np


class LabelIndex(Sequence):
    """Class indices per clip: ``offsets`` int64 ``[n + 1]`` and ``classes`` int64 ``[total]``."""

    def __init__(self, offsets: np.ndarray, classes: np.ndarray):
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.classes = np.asarray(classes, dtype=np.int64)

    @classmethod
    def from_lists(cls, lists: Sequence[Sequence[int]]) -> LabelIndex:
        """The index of per-clip lists (a :class:`LabelIndex` is returned as it is)."""
        if isinstance(lists, LabelIndex):
            return lists
        counts = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
        offsets = np.zeros(len(lists) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        classes = np.fromiter((k for x in lists for k in x), dtype=np.int64, count=int(offsets[-1]))
        return cls(offsets, classes)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = int(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"clip {i} out of range for {len(self)} clips")
        return self.classes[self.offsets[i] : self.offsets[i + 1]].tolist()

    def __iter__(self) -> Iterator[list[int]]:
        for i in range(len(self)):
            yield self[i]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or len(other) != len(self):
            return False
        return all(list(a) == list(b) for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]

    def counts(self) -> np.ndarray:
        """How many classes each clip lists."""
        return np.diff(self.offsets)

    def pairs(self, clips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(row, class)`` pairs of the clips ``clips`` (``row`` = position in ``clips``), in clip then label order."""
        clips = np.asarray(clips, dtype=np.int64)
        starts, counts = self.offsets[clips], self.offsets[clips + 1] - self.offsets[clips]
        rows = np.repeat(np.arange(len(clips), dtype=np.int64), counts)
        first = np.repeat(np.cumsum(counts) - counts, counts)
        position = np.repeat(starts, counts) + np.arange(len(rows), dtype=np.int64) - first
        return rows, self.classes[position]

    def subset(self, clips: np.ndarray) -> LabelIndex:
        """The index of the clips ``clips`` (in that order)."""
        clips = np.asarray(clips, dtype=np.int64)
        counts = self.offsets[clips + 1] - self.offsets[clips]
        offsets = np.zeros(len(clips) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        return LabelIndex(offsets, self.pairs(clips)[1])
