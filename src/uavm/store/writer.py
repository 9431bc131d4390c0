"""Appending clips to a feature store, one atomically committed shard at a time.

Opening an existing store resumes it: committed clips are known
(:attr:`FeatureStoreWriter.done_ids`), leftovers of an interrupted commit are
removed. A lock file keeps two writers off one store.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import storage_error
from ..errors import ConfigError, StorageError, UAVMError
from .clip_index import has_columns, read_clip_ids, upgrade_shard, write_columns
from .records import DTYPE, INDEX, MANIFEST, ClipRecord, Manifest, ManifestView, ShardInfo

LOCK = ".lock"


class FeatureStoreWriter(ManifestView):
    """Writes clips into ``path`` (created if missing, resumed if it exists).

    Clips are buffered and committed as a shard every ``shard_size`` clips and on
    :meth:`close` (also when leaving a ``with`` block through an exception, so
    finished clips are never lost). ``label_set`` names the label vocabulary the
    clips' mids belong to (e.g. ``"vggsound"``); ``metadata`` is stored in the
    manifest (e.g. which encoders made the features).
    """

    def __init__(
        self,
        path: str | Path,
        seq_len: int = 30,
        dim: int = 1024,
        shard_size: int = 1024,
        label_set: str | None = None,
        metadata: dict[str, Any] | None = None,
        shard_prefix: str = "shard",
    ):
        if shard_size < 1 or seq_len < 1 or dim < 1:
            raise ValueError("shard_size, seq_len and dim must be positive")
        self.path = Path(path)
        self.shard_size = shard_size
        self.shard_prefix = shard_prefix
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error(exc, self.path) from None
        self._lock = acquire_lock(self.path, blocking=False)
        try:
            self.manifest = self._open_manifest(seq_len, dim, label_set, metadata)
            self._remove_leftovers()
            self._upgrade_index()
            self.manifest.save(self.path)
            self._done = read_clip_ids(self.path, self.manifest)
        except BaseException:
            release_lock(self._lock)
            raise
        self._records: list[ClipRecord] = []
        self._buffered: set[str] = set()
        self._arrays: dict[str, np.ndarray] = {}

    def _open_manifest(
        self, seq_len: int, dim: int, label_set: str | None, metadata: dict[str, Any] | None
    ) -> Manifest:
        if not (self.path / MANIFEST).exists():
            return Manifest(seq_len=seq_len, dim=dim, label_set=label_set, metadata=dict(metadata or {}))
        manifest = Manifest.load(self.path)
        _check_compatible(self.path, manifest, seq_len, dim, label_set)
        manifest.label_set = manifest.label_set or label_set
        manifest.metadata.update(metadata or {})
        return manifest

    @property
    def done_ids(self) -> frozenset[str]:
        """Ids of committed clips."""
        return frozenset(self._done)

    def __contains__(self, clip_id: str) -> bool:
        return clip_id in self._done or clip_id in self._buffered

    def add(
        self,
        clip_id: str,
        source: str,
        labels: list[str],
        audio: np.ndarray | None,
        visual: np.ndarray | None,
    ) -> None:
        """Buffer one clip: ``audio`` / ``visual`` are ``[T, dim]`` (``None``: modality absent).

        Sequences are cut or zero-padded at the end to ``seq_len``; the real step
        counts are recorded. A full buffer is committed as a shard.
        """
        if clip_id in self:
            raise UAVMError(f"clip {clip_id!r} is already in the store {self.path}")
        row = len(self._records)
        counts = {}
        for modality, value in (("audio", audio), ("visual", visual)):
            counts[modality] = None if value is None else self._put(modality, row, value, clip_id)
        self._records.append(
            ClipRecord(
                clip_id=clip_id,
                source=str(source),
                labels=[str(m) for m in labels],
                n_audio=counts["audio"] or 0,
                n_visual=counts["visual"] or 0,
                has_audio=audio is not None,
                has_visual=visual is not None,
            )
        )
        self._buffered.add(clip_id)
        if len(self._records) >= self.shard_size:
            self.commit()

    def _put(self, modality: str, row: int, value: np.ndarray, clip_id: str) -> int:
        value = np.asarray(value)
        if value.ndim != 2 or value.shape[1] != self.dim:
            raise UAVMError(f"clip {clip_id!r}: {modality} features have shape {value.shape}, expected [T, {self.dim}]")
        if modality not in self._arrays:
            self._arrays[modality] = np.zeros((self.shard_size, self.seq_len, self.dim), dtype=DTYPE)
        n = min(value.shape[0], self.seq_len)
        self._arrays[modality][row, :n] = value[:n]
        return n

    def commit(self) -> None:
        """Write the buffered clips as one shard, atomically; no-op when nothing is buffered."""
        rows = len(self._records)
        if not rows:
            return
        name = self._next_shard_name()
        tmp = self.path / f".{name}.tmp{os.getpid()}"
        try:
            self._write_shard(tmp, name, rows)
        except (OSError, StorageError) as exc:  # disk full, read-only: nothing half-written is listed
            shutil.rmtree(tmp, ignore_errors=True)
            if self.manifest.shards and self.manifest.shards[-1].name == name:
                self.manifest.shards.pop()  # its folder is an orphan: removed when the store is reopened
            raise exc if isinstance(exc, StorageError) else storage_error(exc, tmp) from None
        self._done.update(r.clip_id for r in self._records)
        self._records = []
        self._buffered.clear()
        for array in self._arrays.values():
            array[:rows] = 0

    def _write_shard(self, tmp: Path, name: str, rows: int) -> None:
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        modalities = []
        for modality, array in self._arrays.items():
            used = [r.has_audio if modality == "audio" else r.has_visual for r in self._records]
            if any(used):
                _save_synced(tmp / f"{modality}.npy", array[:rows])
                modalities.append(modality)
        index = json.dumps([r.to_json() for r in self._records], separators=(",", ":"))
        _write_synced(tmp / INDEX, index.encode())
        write_columns(tmp, self._records, _save_synced)
        os.rename(tmp, self.path / name)
        self.manifest.shards.append(ShardInfo(name=name, rows=rows, modalities=sorted(modalities)))
        self.manifest.save(self.path)

    def close(self) -> None:
        """Commit what is buffered and release the store."""
        if self._lock is None:
            return
        try:
            self.commit()
            self.manifest.save(self.path)
        finally:
            release_lock(self._lock)
            self._lock = None

    def __enter__(self) -> FeatureStoreWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _next_shard_name(self) -> str:
        taken = {s.name for s in self.manifest.shards}
        number = len(self.manifest.shards)
        while (
            f"{self.shard_prefix}-{number:05d}" in taken or (self.path / f"{self.shard_prefix}-{number:05d}").exists()
        ):
            number += 1
        return f"{self.shard_prefix}-{number:05d}"

    def _upgrade_index(self) -> None:
        """Give shards written by an older uavm (a JSON index only) the columnar index, each atomically."""
        for number, shard in enumerate(self.manifest.shards):
            if not has_columns(self.path, shard):
                try:
                    upgrade_shard(self.path, shard, number, _save_synced)
                except OSError as exc:
                    raise storage_error(exc, self.path / shard.name) from None

    def _remove_leftovers(self) -> None:
        """Drop temporary shard folders and shards that never made it into the manifest."""
        listed = {s.name for s in self.manifest.shards}
        pattern = re.compile(rf"{re.escape(self.shard_prefix)}-\d+$")
        for shard in self.manifest.shards:  # a column file an interrupted upgrade left behind
            folder = self.path / shard.name
            if folder.is_dir():
                for entry in folder.glob(".*.tmp*"):
                    entry.unlink()
        for entry in self.path.iterdir():
            stale_tmp = entry.name.startswith(".") and ".tmp" in entry.name
            orphan = entry.is_dir() and pattern.match(entry.name) and entry.name not in listed
            if stale_tmp or orphan:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def _check_compatible(path: Path, manifest: Manifest, seq_len: int, dim: int, label_set: str | None) -> None:
    if (manifest.seq_len, manifest.dim) != (seq_len, dim):
        raise ConfigError(
            f"{path}: the store holds seq_len {manifest.seq_len}, dim {manifest.dim}; "
            f"cannot add seq_len {seq_len}, dim {dim} (use another --out)"
        )
    if label_set and manifest.label_set and label_set != manifest.label_set:
        raise ConfigError(f"{path}: the store's labels are {manifest.label_set!r}, not {label_set!r}")


def _save_synced(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.save(f, np.ascontiguousarray(array), allow_pickle=False)
        f.flush()
        os.fsync(f.fileno())


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def acquire_lock(store: Path, blocking: bool, busy: str = "another process is writing this store") -> int:
    """Take the folder's exclusive lock (released when the process dies); without ``blocking``, fail if
    held, with the one-line error ``<folder>: <busy>``. Training runs lock their output folder with it too."""
    store.mkdir(parents=True, exist_ok=True)
    fd = os.open(store / LOCK, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(fd)
        raise UAVMError(f"{store}: {busy}") from None
    return fd


def release_lock(fd: int) -> None:
    """Give back a lock from :func:`acquire_lock`."""
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
