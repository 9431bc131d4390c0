"""Reading a feature store: a columnar clip index, features memory-mapped, grouped gathers across shards."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UAVMError
from .clip_index import ClipIndex, RecordList
from .joint_map import JointMap, joint_map
from .records import DTYPE, MODALITIES, Manifest, ManifestView


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
        self.index = ClipIndex(self.path, self.manifest)
        self._maps: dict[str, list[np.ndarray | None | bool]] = {}
        self._joint: dict[str, JointMap | None] = {}
        self._has: dict[str, np.ndarray] = {}
        self._ids: dict[str, int] | None = None

    @property
    def records(self) -> RecordList:
        """The clips as :class:`~uavm.store.ClipRecord` objects (a list-like view, made on access)."""
        return RecordList(self.index)

    def __len__(self) -> int:
        return len(self.index)

    def index_of(self, clip_id: str) -> int:
        """Position of ``clip_id`` in :attr:`records`."""
        if self._ids is None:
            self._ids = {c.decode(): i for i, c in enumerate(self.index.clip_ids.tolist())}
        try:
            return self._ids[clip_id]
        except KeyError:
            raise UAVMError(f"clip {clip_id!r} is not in the store {self.path}") from None

    def read(self, indices: Sequence[int] | np.ndarray, modality: str, shifts: np.ndarray | None = None) -> np.ndarray:
        """Features ``[len(indices), seq_len, dim]`` float16 of the clips at ``indices`` (any order, repeats allowed).

        A clip without the modality reads as zeros. ``shifts`` rolls each clip in time as
        ``torch.roll(clip, shifts[i], 0)`` does (training's time shift): the gather then reads
        the rolled time steps directly. Where the platform allows, every shard of the modality is
        mapped into one address range (:mod:`uavm.store.joint_map`) and the whole batch is one
        gather, however many shards it touches; otherwise clips are grouped by shard (one sort)
        and each group is one gather from its shard's memory map.
        """
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = len(self)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"clip index out of range for a store of {n} clips")
        idx = idx % max(n, 1)
        steps, dim = self.seq_len, self.dim
        if not idx.size:
            return np.empty((0, steps, dim), dtype=DTYPE)
        shards, rows = self.index.shard[idx], self.index.row[idx].astype(np.int64)
        joint = self._joint_map(modality)
        if joint is not None:  # every shard in one address range: one gather for the whole batch
            return self._gather_joint(joint, modality, shards, rows, shifts, (idx.size, steps, dim))
        out = np.empty((idx.size, steps, dim), dtype=DTYPE)
        time = None  # the roll as a gather of time steps: out[i, t] = clip[(t - shift_i) % T]
        if shifts is not None:
            time = (np.arange(steps)[None, :] - np.asarray(shifts, dtype=np.int64)[:, None]) % steps
        if shards[0] == shards[-1] and (shards == shards[0]).all():  # one shard: straight into the result
            self._gather(int(shards[0]), modality, rows, time, out, None)
            return out
        order = np.argsort(shards, kind="stable")
        sorted_shards = shards[order]
        cuts = np.flatnonzero(sorted_shards[1:] != sorted_shards[:-1]) + 1
        rows = rows[order]
        time = None if time is None else time[order]
        for lo, hi in zip([0, *cuts.tolist()], [*cuts.tolist(), idx.size]):
            part = None if time is None else time[lo:hi]
            self._gather(int(sorted_shards[lo]), modality, rows[lo:hi], part, out, order[lo:hi])
        return out

    def _gather_joint(
        self, joint: JointMap, modality: str, shards: np.ndarray, rows: np.ndarray, shifts, shape: tuple[int, ...]
    ) -> np.ndarray:
        steps, step_bytes = self.seq_len, self.dim * np.dtype(DTYPE).itemsize
        has = self._has_modality(modality)
        lacking = ~has[shards]
        starts = joint.bases[shards] + rows * (steps * step_bytes)
        if lacking.any():
            starts[lacking] = joint.bases[has][0]  # any valid place: zeroed below
        if shifts is None:  # whole clips as items
            gathered = joint.items(steps * step_bytes)[starts]
        else:  # time steps as items, in rolled order
            time = (np.arange(steps)[None, :] - np.asarray(shifts, dtype=np.int64)[:, None]) % steps
            gathered = joint.steps[(starts[:, None] + time * step_bytes).reshape(-1)]
        # (fancy indexing walks the byte-strided view in place; np.take would first copy the whole range)
        gathered = gathered.view(DTYPE).reshape(shape)
        if lacking.any():
            gathered[lacking] = 0
        return gathered

    def _has_modality(self, modality: str) -> np.ndarray:
        """Per shard: whether it holds ``modality``."""
        if modality not in self._has:
            self._has[modality] = np.array([modality in s.modalities for s in self.manifest.shards], dtype=bool)
        return self._has[modality]

    def _joint_map(self, modality: str) -> JointMap | None:
        if modality not in self._joint:
            paths, offsets = [], []
            for info in self.manifest.shards:
                path = self.path / info.name / f"{modality}.npy" if modality in info.modalities else None
                paths.append(path)
                offsets.append(0 if path is None else self._data_offset(path, info.rows))
            self._joint[modality] = joint_map(paths, offsets, self.dim * np.dtype(DTYPE).itemsize)
        return self._joint[modality]

    def _data_offset(self, path: Path, rows: int) -> int:
        """Where a shard array's data starts in its ``.npy`` file (its header checked)."""
        try:
            with open(path, "rb") as f:
                version = np.lib.format.read_magic(f)
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, fortran, dtype = read(f)
                offset = f.tell()
            size = path.stat().st_size
        except (OSError, ValueError) as exc:
            raise UAVMError(f"{path}: unreadable feature array ({exc})") from None
        expected = (rows, self.seq_len, self.dim)
        if tuple(shape) != expected or fortran or dtype != np.dtype(DTYPE):
            raise UAVMError(f"{path}: shape {tuple(shape)} ({dtype}), expected {expected} ({DTYPE})")
        if size < offset + int(np.prod(expected)) * np.dtype(DTYPE).itemsize:
            raise UAVMError(f"{path}: truncated feature array")
        return offset

    def _gather(
        self,
        shard: int,
        modality: str,
        rows: np.ndarray,
        time: np.ndarray | None,
        out: np.ndarray,
        target: np.ndarray | None,
    ) -> None:
        """``out[target] = clips rows of the shard`` (``time``: their time steps; ``target=None``: all of ``out``)."""
        array = self._array(shard, modality)
        if array is None:
            chunk = 0
        elif isinstance(array, np.ndarray):  # a plain view of the map: no memmap overhead, one flat take
            plain = array.view(np.ndarray)
            if time is not None:
                plain = plain.reshape(-1, self.dim)
                rows = (rows[:, None] * self.seq_len + time).reshape(-1)
            if target is None:
                np.take(plain, rows, axis=0, out=out.reshape(-1, *plain.shape[1:]))
                return
            chunk = np.take(plain, rows, axis=0).reshape(len(target), self.seq_len, self.dim)
        else:
            chunk = array[rows] if time is None else array[rows[:, None], time]
        if target is None:
            out[...] = chunk
        else:
            out[target] = chunk

    def read_clip(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """``(audio, visual)`` of one clip, each ``[seq_len, dim]`` float16."""
        return self.read([index], "audio")[0], self.read([index], "visual")[0]

    def _array(self, shard: int, modality: str) -> np.ndarray | None:
        """The shard's ``[rows, T, D]`` array of ``modality``, memory-mapped (``None``: the shard lacks it)."""
        maps = self._maps.get(modality)
        if maps is None:
            maps = self._maps[modality] = [False] * len(self.manifest.shards)
        array = maps[shard]
        if array is False:
            info = self.manifest.shards[shard]
            if modality not in info.modalities:
                array = None
            else:
                path = self.path / info.name / f"{modality}.npy"
                try:
                    array = np.load(path, mmap_mode="r")
                except (OSError, ValueError) as exc:
                    raise UAVMError(f"{path}: unreadable feature array ({exc})") from None
                if array.shape != (info.rows, self.seq_len, self.dim):
                    raise UAVMError(f"{path}: shape {array.shape}, expected {(info.rows, self.seq_len, self.dim)}")
            maps[shard] = array
        return array

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_maps"] = {}  # memory maps are reopened in the receiving process
        state["_joint"] = {}
        state["_ids"] = None  # a dict of every clip id: rebuilt there if asked for
        return state

    def __repr__(self) -> str:
        return (
            f"FeatureStore({str(self.path)!r}, clips={len(self)}, seq_len={self.seq_len}, dim={self.dim}, "
            f"label_set={self.label_set!r})"
        )
