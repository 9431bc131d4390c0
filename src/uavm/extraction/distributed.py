"""Splitting an extraction over many processes, GPUs and nodes, and joining the results.

We use ``torchrun`` as the launcher rather than Ray Data: it ships with torch (no
extra dependency), starts one process per GPU on every node, restarts failed
workers, and feature extraction needs nothing else from a framework: each clip is
independent, so the processes never talk to each other. Process ``RANK`` of
``WORLD_SIZE`` takes the contiguous block ``RANK`` of the (deterministically
ordered) input and writes its own part store under ``STORE/parts/``; no process
group is created, so a slow worker cannot trip a collective timeout. The last
process to finish joins the parts into ``STORE`` (a manifest write, no copying),
giving the clips in input order, i.e. the store a single process would write.
``--shard i/n`` does the same by hand (e.g. one job array task per shard).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

from ..errors import ConfigError
from ..store import merge_parts
from ..store.records import MANIFEST, Manifest
from ..store.writer import acquire_lock, release_lock
from .failures import FAILURES, FailureLog, read_failures

T = TypeVar("T")
PARTS = "parts"
COMPLETE = "complete"


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` → ``(i, n)`` with ``0 <= i < n``."""
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard {text!r}: write it as i/n, e.g. 0/4") from None
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f"--shard {text!r}: need 0 <= i < n")
    return index, count


def choose_shard(text: str | None) -> tuple[int, int] | None:
    """The shard this process works on: ``--shard i/n`` if given, else torchrun's rank, else none."""
    return parse_shard(text) if text else torchrun_shard()


def torchrun_shard() -> tuple[int, int] | None:
    """``(RANK, WORLD_SIZE)`` when launched by torchrun with more than one process, else ``None``."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or "RANK" not in os.environ:
        return None
    return int(os.environ["RANK"]), world


def shard_block(items: Sequence[T], index: int, count: int) -> list[T]:
    """The ``index``-th of ``count`` contiguous, near-equal blocks of ``items``."""
    start = len(items) * index // count
    end = len(items) * (index + 1) // count
    return list(items[start:end])


def part_path(store: str | Path, index: int, count: int) -> Path:
    """Where shard ``index`` of ``count`` writes its part of ``store``."""
    return Path(store) / PARTS / f"part-{index:05d}-of-{count:05d}"


def merge_if_complete(store: str | Path, count: int) -> bool:
    """Join the ``count`` parts into ``store`` if all are complete; ``True`` when merged.

    Serialised by the store's lock, so concurrent finishers cannot both miss the
    moment all parts are done (the later one always sees it) and merging twice is harmless.
    """
    store = Path(store)
    parts = [part_path(store, i, count) for i in range(count)]
    lock = acquire_lock(store, blocking=True)
    try:
        if not all(_is_complete(p) for p in parts):
            return False
    finally:
        release_lock(lock)
    merge_parts(store, parts)
    log = FailureLog(store / FAILURES)
    for part in parts:
        for failure in read_failures(part / FAILURES):
            log.add(failure.clip_id, failure.source, failure.reason)
    log.save()
    return True


def _is_complete(part: Path) -> bool:
    return (part / MANIFEST).exists() and bool(Manifest.load(part).metadata.get(COMPLETE))
