"""The columnar clip index of a feature store: per-clip facts as NumPy arrays, memory-mapped.

Beside its ``index.json`` (one JSON record per row, kept for people and older uavm
versions) every shard written by this version holds::

    <shard>/clips.npy         structured [rows]: clip_id, source (UTF-8 bytes), n_audio, n_visual,
                              has_audio, has_visual, label_start, label_count
    <shard>/labels.npy        int32 [total]: the clips' labels as codes into label_vocab.npy
    <shard>/label_vocab.npy   bytes [k]: the mids the shard uses

Opening a store reads these arrays (memory-mapped) and concatenates the few columns a
training run needs (:class:`ClipIndex`); nothing per clip becomes a Python object, so a
store of millions of clips opens in seconds and pickles to DataLoader workers as a few
buffers. A shard without them (written by an older uavm) is read from its ``index.json``;
:func:`upgrade_shard` adds the columns to it atomically (``clips.npy`` is renamed into place
last, so a shard has either the complete columns or none).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UAVMError
from .records import ClipRecord, Manifest, ShardInfo, read_shard_index

CLIPS = "clips.npy"
LABELS = "labels.npy"
LABEL_VOCAB = "label_vocab.npy"
COLUMN_FILES = (LABELS, LABEL_VOCAB, CLIPS)  # in the order they are put in place


def _bytes_column(values: Sequence[str]) -> np.ndarray:
    encoded = [v.encode() for v in values]
    return np.array(encoded, dtype=f"S{max([1, *map(len, encoded)])}")


def shard_columns(records: Sequence[ClipRecord]) -> dict[str, np.ndarray]:
    """The column arrays of one shard's records (in row order)."""
    vocab: dict[str, int] = {}
    codes = [vocab.setdefault(mid, len(vocab)) for r in records for mid in r.labels]
    counts = np.array([len(r.labels) for r in records], dtype=np.int32)
    ids, sources = _bytes_column([r.clip_id for r in records]), _bytes_column([r.source for r in records])
    clips = np.zeros(
        len(records),
        dtype=[
            ("clip_id", ids.dtype),
            ("source", sources.dtype),
            ("n_audio", "<i4"),
            ("n_visual", "<i4"),
            ("has_audio", "u1"),
            ("has_visual", "u1"),
            ("label_start", "<i8"),
            ("label_count", "<i4"),
        ],
    )
    clips["clip_id"], clips["source"] = ids, sources
    clips["n_audio"] = [r.n_audio for r in records]
    clips["n_visual"] = [r.n_visual for r in records]
    clips["has_audio"] = [r.has_audio for r in records]
    clips["has_visual"] = [r.has_visual for r in records]
    clips["label_count"] = counts
    clips["label_start"] = np.cumsum(counts) - counts
    return {
        CLIPS: clips,
        LABELS: np.array(codes, dtype=np.int32),
        LABEL_VOCAB: _bytes_column(list(vocab)) if vocab else np.zeros(0, dtype="S1"),
    }


def write_columns(folder: Path, records: Sequence[ClipRecord], sync) -> None:
    """Write a shard's columns into ``folder``; each file through a temporary name, ``clips.npy`` last.

    ``sync(path, array)`` writes one array durably (the writer's fsync'd save).
    """
    columns = shard_columns(records)
    for name in COLUMN_FILES:
        tmp = folder / f".{name}.tmp{os.getpid()}"
        sync(tmp, columns[name])
        os.replace(tmp, folder / name)


def has_columns(store: Path, shard: ShardInfo) -> bool:
    """Whether the shard holds the columnar index (else only its ``index.json``)."""
    return (store / shard.name / CLIPS).is_file()


def upgrade_shard(store: Path, shard: ShardInfo, number: int, sync) -> None:
    """Add the columns to a shard written by an older uavm (read from its ``index.json``), atomically."""
    write_columns(store / shard.name, read_shard_index(store, shard, number), sync)


@dataclass
class ShardColumns:
    """One shard's columns (memory-mapped when read from disk)."""

    clips: np.ndarray
    labels: np.ndarray
    vocab: np.ndarray

    @classmethod
    def read(cls, store: Path, shard: ShardInfo, number: int) -> ShardColumns:
        """The shard's columns: memory-mapped, or built from ``index.json`` for an older shard."""
        folder = store / shard.name
        if not (folder / CLIPS).is_file():
            columns = shard_columns(read_shard_index(store, shard, number))
            return cls(columns[CLIPS], columns[LABELS], columns[LABEL_VOCAB])
        try:
            out = cls(*(np.load(folder / name, mmap_mode="r") for name in (CLIPS, LABELS, LABEL_VOCAB)))
        except (OSError, ValueError) as exc:
            raise UAVMError(f"{folder}: unreadable shard index columns ({exc})") from None
        if (
            out.clips.shape != (shard.rows,)
            or out.clips.dtype.names is None
            or "label_start" not in out.clips.dtype.names
        ):
            raise UAVMError(f"{folder / CLIPS}: damaged shard index: expected {shard.rows} clip rows")
        return out


class ClipIndex:
    """Every clip of a store as columns, in shard then row order.

    ``clip_ids`` (bytes), ``shard`` / ``row`` (where the features are), ``n_audio``,
    ``n_visual``, ``has_audio``, ``has_visual``; labels as ``label_offsets`` [n + 1] into
    ``label_codes``, codes into ``label_vocab`` (the store's mids). Per-shard columns stay
    memory-mapped for what is read rarely (sources).
    """

    def __init__(self, store: Path, manifest: Manifest):
        self.store = store
        self.manifest = manifest
        shards = [ShardColumns.read(store, s, i) for i, s in enumerate(manifest.shards)]
        rows = np.array([s.rows for s in manifest.shards], dtype=np.int64)
        n = int(rows.sum())
        self.shard = np.repeat(np.arange(len(rows), dtype=np.int32), rows)
        starts = np.cumsum(rows) - rows
        self.row = (np.arange(n, dtype=np.int64) - np.repeat(starts, rows)).astype(np.int32)
        vocab: dict[bytes, int] = {}
        lookups = [np.array([vocab.setdefault(bytes(m), len(vocab)) for m in s.vocab], dtype=np.int32) for s in shards]
        self.label_vocab = [m.decode() for m in vocab]
        width = max([1, *(s.clips.dtype["clip_id"].itemsize for s in shards)])
        self.clip_ids = np.empty(n, dtype=f"S{width}")
        self.n_audio, self.n_visual = np.empty(n, np.int32), np.empty(n, np.int32)
        self.has_audio, self.has_visual = np.empty(n, bool), np.empty(n, bool)
        counts = np.empty(n, np.int64)
        codes = []
        for s, lookup, lo, k in zip(shards, lookups, starts, rows):
            part = slice(int(lo), int(lo + k))
            c = s.clips
            self.clip_ids[part] = c["clip_id"]
            self.n_audio[part], self.n_visual[part] = c["n_audio"], c["n_visual"]
            self.has_audio[part], self.has_visual[part] = c["has_audio"], c["has_visual"]
            counts[part] = c["label_count"]
            codes.append(lookup[np.asarray(s.labels)] if len(s.labels) else np.zeros(0, np.int32))
        self.label_offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=self.label_offsets[1:])
        self.label_codes = np.concatenate(codes) if codes else np.zeros(0, np.int32)
        self._shards: list[ShardColumns] | None = shards

    def __len__(self) -> int:
        return len(self.clip_ids)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_shards"] = None  # memory maps (or an old shard's parsed index) are reopened where needed
        return state

    def _shard_columns(self, shard: int) -> ShardColumns:
        if self._shards is None:
            self._shards = [None] * len(self.manifest.shards)  # type: ignore[list-item]
        if self._shards[shard] is None:
            self._shards[shard] = ShardColumns.read(self.store, self.manifest.shards[shard], shard)
        return self._shards[shard]

    def clip_id(self, i: int) -> str:
        """Clip ``i``'s id."""
        return self.clip_ids[i].decode()

    def labels(self, i: int) -> list[str]:
        """Clip ``i``'s mids."""
        return [self.label_vocab[c] for c in self.label_codes[self.label_offsets[i] : self.label_offsets[i + 1]]]

    def record(self, i: int) -> ClipRecord:
        """Clip ``i`` as a :class:`ClipRecord`."""
        shard, row = int(self.shard[i]), int(self.row[i])
        return ClipRecord(
            clip_id=self.clip_id(i),
            source=self._shard_columns(shard).clips["source"][row].decode(),
            labels=self.labels(i),
            n_audio=int(self.n_audio[i]),
            n_visual=int(self.n_visual[i]),
            has_audio=bool(self.has_audio[i]),
            has_visual=bool(self.has_visual[i]),
            shard=shard,
            row=row,
        )


class RecordList(Sequence):
    """``store.records``: the clips as :class:`ClipRecord` objects, made when asked for (a list's interface)."""

    def __init__(self, index: ClipIndex):
        self.index = index

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self.index.record(j) for j in range(*i.indices(len(self)))]
        i = int(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"clip {i} out of range for {len(self)} clips")
        return self.index.record(i)

    def __iter__(self) -> Iterator[ClipRecord]:
        for i in range(len(self)):
            yield self.index.record(i)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]


class ClipIds(Sequence):
    """Clip ids of a :class:`ClipIndex` (or a subset of it) as a read-only sequence of ``str``."""

    def __init__(self, ids: np.ndarray):
        self.ids = ids

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [b.decode() for b in self.ids[i]]
        return self.ids[i].decode()

    def __iter__(self) -> Iterator[str]:
        return (b.decode() for b in self.ids)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and len(other) == len(self) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]


def read_clip_ids(store: Path, manifest: Manifest) -> set[str]:
    """The ids of every committed clip (from the columns, or ``index.json`` for an older shard)."""
    out: set[str] = set()
    for number, shard in enumerate(manifest.shards):
        columns = ShardColumns.read(store, shard, number)
        out.update(b.decode() for b in columns.clips["clip_id"])
    return out
