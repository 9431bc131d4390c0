"""``uavm pack``: the reference per-clip layout (datafile + ``.npy`` files) → a feature store.

Resumable like extraction: clips already in the store are skipped, unreadable
clips go to ``failures.csv``. Files are read by a few threads (the work is I/O).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.labels import LabelSet
from ..data.reference_layout import ReferenceClip, iter_reference_clips, load_reference_clip
from ..errors import ConfigError, UAVMError
from ..progress import progress_bar
from ..store import FeatureStoreWriter
from .failures import FAILURES, FailureLog


@dataclass
class PackReport:
    """What a pack run did."""

    store: Path
    packed: int = 0
    already_done: int = 0
    failures: int = 0
    wall_seconds: float = 0.0

    def summary(self) -> str:
        """One or two human-readable lines."""
        text = (
            f"{self.packed} clips packed into {self.store} ({self.already_done} were already there), "
            f"{self.failures} failed, {self.wall_seconds:.1f} s"
        )
        return text + (f"\nfailures and reasons: {self.store / FAILURES}" if self.failures else "")


def pack_datafile(
    datafile: str | Path,
    store: str | Path,
    labels: LabelSet | None = None,
    seq_len: int = 30,
    shard_size: int = 1024,
    threads: int = 8,
    progress: bool = True,
) -> PackReport:
    """Convert the clips of a reference feature datafile into ``store``."""
    store = Path(store)
    clips = list(iter_reference_clips(datafile))
    if not clips:
        raise ConfigError(f"{datafile}: the datafile lists no clips")
    report = PackReport(store=store)
    failures = FailureLog(store / FAILURES)
    start = time.perf_counter()
    dim = _feature_dim(clips)
    with FeatureStoreWriter(
        store,
        seq_len=seq_len,
        dim=dim,
        shard_size=shard_size,
        label_set=labels.source if labels else None,
        metadata={"packed_from": str(Path(datafile).resolve())},
    ) as writer:
        try:
            todo = [c for c in clips if c.clip_id not in writer.done_ids]
            report.already_done = len(clips) - len(todo)
            known = set(labels.mids) if labels else None
            with progress_bar(total=len(todo), unit="clip", desc="pack", enabled=progress) as bar:
                for clip, loaded in _load_all(todo, dim, threads):
                    unknown = [m for m in clip.labels if known is not None and m not in known]
                    if isinstance(loaded, str) or unknown:
                        reason = (
                            loaded if isinstance(loaded, str) else f"label {unknown[0]!r} is not in {labels.source}"
                        )
                        failures.add(clip.clip_id, clip.afeat or clip.vfeat or "", reason)
                    elif loaded[0] is None and loaded[1] is None:
                        failures.add(clip.clip_id, "", "the entry names no 'afeat' or 'vfeat' file")
                    else:
                        writer.add(clip.clip_id, str(clip.vfeat or clip.afeat), clip.labels, *loaded)
                        report.packed += 1
                    bar.update()
        finally:
            writer.commit()
            failures.save()
    report.failures = len(failures)
    report.wall_seconds = time.perf_counter() - start
    return report


def _feature_dim(clips: list[ReferenceClip]) -> int:
    """D of the first clip whose features can be read."""
    for clip in clips[:1000]:
        try:
            for array in load_reference_clip(clip):
                if array is not None:
                    return int(array.shape[1])
        except UAVMError:
            continue
    raise ConfigError("none of the first clips of the datafile has a readable feature file")


def _load_all(
    clips: list[ReferenceClip], dim: int, threads: int
) -> Iterator[tuple[ReferenceClip, tuple[np.ndarray | None, np.ndarray | None] | str]]:
    """Each clip with its arrays (or the reason they could not be read), in order."""

    def load(clip: ReferenceClip) -> tuple[np.ndarray | None, np.ndarray | None] | str:
        try:
            return load_reference_clip(clip, dim)
        except UAVMError as exc:
            return str(exc)

    with ThreadPoolExecutor(max(1, threads)) as pool:
        chunk = 4 * max(1, threads)
        for start in range(0, len(clips), chunk):
            part = clips[start : start + chunk]
            yield from zip(part, pool.map(load, part))
