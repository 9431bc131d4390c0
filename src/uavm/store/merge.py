"""Joining stores written in parts (one per worker) into one store, without copying features.

The merged manifest lists the parts' shards by their path inside the store
(``parts/<part>/<shard>``), so merging is one atomic manifest write whatever the
size of the data, and an interrupted merge is simply run again.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError
from .clip_index import ShardColumns, read_clip_ids
from .records import MANIFEST, Manifest, ShardInfo
from .writer import acquire_lock, release_lock


def merge_parts(store: str | Path, parts: Sequence[str | Path]) -> Manifest:
    """Make ``store`` list its own shards followed by those of ``parts`` (folders inside it), in order.

    Every part must share ``seq_len``, ``dim`` and label set with the others. A clip
    id found in two places is an error (the parts must split the work). Returns
    the new manifest.
    """
    store = Path(store)
    lock = acquire_lock(store, blocking=True)
    try:
        return _merge(store, [Path(p) for p in parts])
    finally:
        release_lock(lock)


def _merge(store: Path, parts: list[Path]) -> Manifest:
    manifests = [(p, Manifest.load(p)) for p in parts]
    if (store / MANIFEST).exists():
        merged = Manifest.load(store)
        merged.shards = [s for s in merged.shards if not _inside_any(s.name, store, [p for p, _ in manifests])]
    elif manifests:
        first = manifests[0][1]
        merged = Manifest(
            seq_len=first.seq_len, dim=first.dim, label_set=first.label_set, metadata=dict(first.metadata)
        )
    else:
        raise ConfigError(f"{store}: nothing to merge")
    seen = read_clip_ids(store, merged)
    for part_path, part in manifests:
        if (part.seq_len, part.dim) != (merged.seq_len, merged.dim):
            raise ConfigError(
                f"{part_path}: seq_len/dim {part.seq_len}/{part.dim} differ from "
                f"{merged.seq_len}/{merged.dim} of {store}"
            )
        if part.label_set and merged.label_set and part.label_set != merged.label_set:
            raise ConfigError(f"{part_path}: label set {part.label_set!r} differs from {merged.label_set!r}")
        merged.label_set = merged.label_set or part.label_set
        relative = part_path.resolve().relative_to(store.resolve())
        for number, shard in enumerate(part.shards):
            for raw in ShardColumns.read(part_path, shard, number).clips["clip_id"].tolist():
                clip_id = raw.decode()
                if clip_id in seen:
                    raise ConfigError(f"{part_path}: clip {clip_id!r} is also in another part of {store}")
                seen.add(clip_id)
        merged.shards.extend(
            ShardInfo(name=f"{relative.as_posix()}/{s.name}", rows=s.rows, modalities=s.modalities) for s in part.shards
        )
    merged.metadata.pop("complete", None)
    merged.save(store)
    return merged


def _inside_any(shard_name: str, store: Path, parts: list[Path]) -> bool:
    for part in parts:
        prefix = part.resolve().relative_to(store.resolve()).as_posix() + "/"
        if shard_name.startswith(prefix):
            return True
    return False
