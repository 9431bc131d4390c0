"""The reference's per-clip layout: one ``.npy`` per clip and modality, listed by a JSON datafile.

The released VGGSound features come this way: a datafile ``{"data": [{"labels":
"mid1,mid2", "afeat": "a/<id>.npy", "vfeat": "v/<id>.npy", ...}]}``, audio files
float32 ``[30, 1024]``, visual files float16 ``[frames, 1024]``. This module reads
such clips and writes a store back out in that layout (for the reference code or
for a per-clip comparison); ``uavm pack`` converts the layout into a store.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UAVMError
from ..store import FeatureStore
from .datafile import DataEntry, read_datafile, resolve_entry_path, write_datafile

AUDIO_DTYPE = np.float32
VISUAL_DTYPE = np.float16


@dataclass
class ReferenceClip:
    """One datafile entry with its feature files resolved to paths."""

    clip_id: str
    labels: list[str]
    afeat: Path | None
    vfeat: Path | None
    entry: DataEntry


def iter_reference_clips(datafile: str | Path) -> Iterator[ReferenceClip]:
    """The datafile's clips in order; relative feature paths resolve like the datafile reader's."""
    for entry in read_datafile(datafile):
        yield ReferenceClip(
            clip_id=entry.clip_id,
            labels=list(entry.labels),
            afeat=resolve_entry_path(entry.afeat, datafile) if entry.afeat else None,
            vfeat=resolve_entry_path(entry.vfeat, datafile) if entry.vfeat else None,
            entry=entry,
        )


def load_feature_file(path: Path, dim: int | None = None) -> np.ndarray:
    """A per-clip feature array ``[T, D]``; a missing or malformed file is a one-line error naming it."""
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UAVMError(f"{path}: feature file not found") from None
    except (OSError, ValueError) as exc:
        raise UAVMError(f"{path}: not a readable .npy feature file ({exc})") from None
    if array.ndim != 2 or (dim is not None and array.shape[1] != dim):
        want = f"[T, {dim}]" if dim is not None else "[T, D]"
        raise UAVMError(f"{path}: features have shape {array.shape}, expected {want}")
    if not np.issubdtype(array.dtype, np.floating):
        raise UAVMError(f"{path}: features are {array.dtype}, expected floating point")
    return array


def load_reference_clip(clip: ReferenceClip, dim: int | None = None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``(audio, visual)`` arrays of one clip; ``None`` where the entry names no file."""
    audio = load_feature_file(clip.afeat, dim) if clip.afeat else None
    visual = load_feature_file(clip.vfeat, dim) if clip.vfeat else None
    return audio, visual


def export_reference(store: FeatureStore | str | Path, out_dir: str | Path, datafile_name: str = "data.json") -> Path:
    """Write ``store`` in the reference layout under ``out_dir``; returns the datafile path.

    ``out_dir/afeat/<clip_id>.npy`` float32 and ``out_dir/vfeat/<clip_id>.npy``
    float16 hold each clip's real (unpadded) steps; a missing modality is an
    empty ``[0, D]`` array, which the reference loader pads with zeros.
    """
    store = store if isinstance(store, FeatureStore) else FeatureStore(store)
    out_dir = Path(out_dir)
    entries = []
    for start in range(0, len(store), 256):
        indices = np.arange(start, min(start + 256, len(store)))
        audio = store.read(indices, "audio")
        visual = store.read(indices, "visual")
        for k, i in enumerate(indices):
            record = store.records[i]
            apath = out_dir / "afeat" / f"{record.clip_id}.npy"
            vpath = out_dir / "vfeat" / f"{record.clip_id}.npy"
            apath.parent.mkdir(parents=True, exist_ok=True)
            vpath.parent.mkdir(parents=True, exist_ok=True)
            np.save(apath, audio[k, : record.n_audio].astype(AUDIO_DTYPE))
            np.save(vpath, visual[k, : record.n_visual].astype(VISUAL_DTYPE))
            entries.append(
                DataEntry(
                    labels=list(record.labels),
                    afeat=str(apath.resolve()),
                    vfeat=str(vpath.resolve()),
                    extra={"video_id": record.clip_id},
                )
            )
    path = out_dir / datafile_name
    write_datafile(path, entries)
    return path
