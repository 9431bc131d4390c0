"""All shards of one modality memory-mapped side by side in one range of addresses.

A batch drawn from a large store touches as many shards as it has clips; gathering shard
by shard costs Python-level work per shard. Mapping every shard file (read-only, shared)
into one reserved range lets one ``np.take`` fetch a whole batch, its time roll included,
whatever the number of shards: each clip's time steps are found by byte offset. POSIX
only (``mmap`` with ``MAP_FIXED`` through ctypes); :func:`joint_map` returns ``None``
where that is unavailable, and the reader then gathers shard by shard.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import sys
import weakref
from pathlib import Path

import numpy as np

_PROT_NONE, _PROT_READ = 0, 1
_MAP_SHARED, _MAP_PRIVATE, _MAP_FIXED = 0x01, 0x02, 0x10
_MAP_ANONYMOUS = 0x20 if sys.platform.startswith("linux") else 0x1000
_MAP_NORESERVE = 0x4000 if sys.platform.startswith("linux") else 0
_FAILED = ctypes.c_void_p(-1).value


def _libc():
    if os.name != "posix":
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
        libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _libc()


class JointMap:
    """Shard files ``paths`` (``None``: that shard lacks the modality) mapped at ``bases[s]`` inside one range.

    ``step(offsets)`` views the range as rows of ``step_bytes`` starting at any byte, so that
    ``np.take(joint.steps, byte_offsets)`` gathers time steps from any shard at once.
    """

    def __init__(self, paths: list[Path | None], data_offsets: list[int], step_bytes: int):
        page = mmap.PAGESIZE
        sizes = [0 if p is None else -(-os.path.getsize(p) // page) * page for p in paths]
        total = max(page, sum(sizes))
        base = _LIBC.mmap(None, total, _PROT_NONE, _MAP_PRIVATE | _MAP_ANONYMOUS | _MAP_NORESERVE, -1, 0)
        if base in (None, _FAILED):
            raise OSError(ctypes.get_errno(), "cannot reserve address space")
        self._finalizer = weakref.finalize(self, _LIBC.munmap, base, total)
        self.bases = np.zeros(len(paths), dtype=np.int64)  # byte offset of each shard's data in the range
        position = 0
        for s, (path, size) in enumerate(zip(paths, sizes)):
            if path is None:
                continue
            fd = os.open(path, os.O_RDONLY)
            try:
                got = _LIBC.mmap(base + position, size, _PROT_READ, _MAP_SHARED | _MAP_FIXED, fd, 0)
            finally:
                os.close(fd)
            if got != base + position:
                self._finalizer()
                raise OSError(ctypes.get_errno(), f"cannot map {path}")
            self.bases[s] = position + data_offsets[s]
            position += size
        self._buffer = (ctypes.c_uint8 * total).from_address(base)
        self._raw = np.frombuffer(self._buffer, dtype=np.uint8)
        self._views: dict[int, np.ndarray] = {}
        self.steps = self.items(step_bytes)

    def items(self, nbytes: int) -> np.ndarray:
        """The range as items of ``nbytes`` starting at every byte: ``items(n)[offset]`` is the bytes there."""
        if nbytes not in self._views:
            total = len(self._raw)
            self._views[nbytes] = np.ndarray(
                (total - nbytes + 1,), dtype=np.dtype((np.void, nbytes)), buffer=self._raw, strides=(1,)
            )
        return self._views[nbytes]

    def close(self) -> None:
        """Unmap the range (the arrays handed out must not be used afterwards)."""
        self.steps = self._raw = None  # type: ignore[assignment]
        self._views.clear()
        self._finalizer()


def joint_map(paths: list[Path | None], data_offsets: list[int], step_bytes: int) -> JointMap | None:
    """A :class:`JointMap`, or ``None`` where the platform cannot make one."""
    if _LIBC is None or not any(p is not None for p in paths):
        return None
    try:
        return JointMap(paths, data_offsets, step_bytes)
    except OSError:
        return None
