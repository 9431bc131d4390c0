"""Reading a feature store: records in memory, features memory-mapped, one gather per shard."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UAVMError
from .records import DTYPE, MODALITIES, ClipRecord, Manifest, ManifestView, read_records


class FeatureStore(ManifestView):
    """A read-only view of a store written by :class:`~uavm.store.FeatureStoreWriter`.

    ``store.records[i]`` describes clip ``i``; :meth:`read` returns the features
    of many clips at once. The arrays are opened lazily as memory maps, so a
    store is cheap to open and safe to hand to DataLoader worker processes
    (each opens its own maps).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.manifest = Manifest.load(self.path)
        self.records: list[ClipRecord] = read_records(self.path, self.manifest)
        self._shard_of = np.array([r.shard for r in self.records], dtype=np.int64)
        self._row_of = np.array([r.row for r in self.records], dtype=np.int64)
        self._maps: dict[tuple[int, str], np.ndarray | None] = {}
        self._ids: dict[str, int] | None = None

    def __len__(self) -> int:
        return len(self.records)

    def index_of(self, clip_id: str) -> int:
        """Position of ``clip_id`` in :attr:`records`."""
        if self._ids is None:
            self._ids = {r.clip_id: i for i, r in enumerate(self.records)}
        try:
            return self._ids[clip_id]
        except KeyError:
            raise UAVMError(f"clip {clip_id!r} is not in the store {self.path}") from None

    def read(self, indices: Sequence[int] | np.ndarray, modality: str, shifts: np.ndarray | None = None) -> np.ndarray:
        """Features ``[len(indices), seq_len, dim]`` float16 of the clips at ``indices`` (any order, repeats allowed).

        Rows of one shard are fetched with one sorted gather from its memory map. A clip
        without the modality reads as zeros. ``shifts`` rolls each clip in time as
        ``torch.roll(clip, shifts[i], 0)`` does (training's time shift): the gather then reads
        the rolled time steps directly, in batch order rather than sorted.
        """
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise IndexError(f"clip index out of range for a store of {len(self)} clips")
        idx = idx % max(len(self), 1)
        out = np.empty((idx.size, self.seq_len, self.dim), dtype=DTYPE)
        if not idx.size:
            return out
        shards = self._shard_of[idx]
        rows = self._row_of[idx]
        present = np.unique(shards)
        for shard in present:
            array = self._array(int(shard), modality)
            where = np.flatnonzero(shards == shard) if len(present) > 1 else slice(None)
            if array is None:
                out[where] = 0
                continue
            if shifts is not None:
                self._gather_rolled(array, rows[where], np.asarray(shifts)[where], out, where)
                continue
            wanted, inverse = np.unique(rows[where], return_inverse=True)
            chunk = array[wanted]  # one sorted read of the shard's rows
            if len(present) == 1:
                np.take(chunk, inverse, axis=0, out=out)  # straight into the result: no extra copy
            else:
                out[where] = chunk[inverse]
        return out

    def _gather_rolled(
        self, array: np.ndarray, rows: np.ndarray, shifts: np.ndarray, out: np.ndarray, where: np.ndarray | slice
    ) -> None:
        """``out[where][i, t] = array[rows[i], (t - shifts[i]) % T]``: the roll as a gather of time steps."""
        steps = self.seq_len
        source = rows[:, None] * steps + (np.arange(steps)[None, :] - shifts[:, None]) % steps
        flat = array.reshape(-1, self.dim)
        if isinstance(where, slice):
            np.take(flat, source.reshape(-1), axis=0, out=out.reshape(-1, self.dim))
        else:
            out[where] = flat[source.reshape(-1)].reshape(len(rows), steps, self.dim)

    def read_clip(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """``(audio, visual)`` of one clip, each ``[seq_len, dim]`` float16."""
        return self.read([index], "audio")[0], self.read([index], "visual")[0]

    def _array(self, shard: int, modality: str) -> np.ndarray | None:
        key = (shard, modality)
        if key not in self._maps:
            info = self.manifest.shards[shard]
            if modality not in info.modalities:
                self._maps[key] = None
            else:
                path = self.path / info.name / f"{modality}.npy"
                try:
                    array = np.load(path, mmap_mode="r")
                except (OSError, ValueError) as exc:
                    raise UAVMError(f"{path}: unreadable feature array ({exc})") from None
                if array.shape != (info.rows, self.seq_len, self.dim):
                    raise UAVMError(f"{path}: shape {array.shape}, expected {(info.rows, self.seq_len, self.dim)}")
                self._maps[key] = array
        return self._maps[key]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_maps"] = {}  # memory maps are reopened in the receiving process
        return state

    def __repr__(self) -> str:
        return (
            f"FeatureStore({str(self.path)!r}, clips={len(self)}, seq_len={self.seq_len}, dim={self.dim}, "
            f"label_set={self.label_set!r})"
        )
