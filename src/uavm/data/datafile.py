"""Reference JSON datafiles: ``{"data": [{"labels": "mid1,mid2", "afeat": ..., "vfeat": ...}]}``.

Feature datafiles name per-clip ``.npy`` files (``afeat``, ``vfeat``); raw-media
datafiles name ``wav`` (and sometimes ``video``). Other keys are kept as they
are. A clip's id is its ``video_id`` key when present, else the file name stem
of its first path (the reference names feature files ``<video_id>.npy``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import write_json_atomic
from ..errors import ConfigError, UAVMError

PATH_KEYS = ("afeat", "vfeat", "wav", "video")


@dataclass
class DataEntry:
    """One clip of a datafile: its label mids and the paths it names."""

    labels: list[str]
    afeat: str | None = None
    vfeat: str | None = None
    wav: str | None = None
    video: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def clip_id(self) -> str:
        """``video_id`` if given, else the stem of the first path (``afeat``, ``vfeat``, ``wav``, ``video``)."""
        if "video_id" in self.extra:
            return str(self.extra["video_id"])
        for key in PATH_KEYS:
            value = getattr(self, key)
            if value:
                return Path(value).stem
        return ""

    def to_json(self) -> dict[str, Any]:
        """The reference JSON form of this entry (labels joined by commas)."""
        out: dict[str, Any] = {"labels": ",".join(self.labels)}
        for key in PATH_KEYS:
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        out.update(self.extra)
        return out


def parse_entry(item: Any, where: str) -> DataEntry:
    """A :class:`DataEntry` from one JSON item; ``where`` names it in errors."""
    if not isinstance(item, dict) or "labels" not in item:
        raise UAVMError(f'{where}: an entry needs a "labels" field')
    labels = item["labels"]
    if isinstance(labels, str):
        labels = [m for m in labels.split(",") if m]
    elif not isinstance(labels, list):
        raise UAVMError(f'{where}: "labels" must be a comma-separated string or a list')
    paths = {k: (None if item.get(k) is None else str(item[k])) for k in PATH_KEYS}
    extra = {k: v for k, v in item.items() if k != "labels" and k not in PATH_KEYS}
    return DataEntry(labels=[str(m) for m in labels], extra=extra, **paths)


def read_datafile(path: str | Path) -> list[DataEntry]:
    """Read a reference datafile; a missing file or a malformed entry is a one-line error naming it."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except OSError as exc:
        raise UAVMError(f"{path}: cannot read datafile ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise UAVMError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise UAVMError(f'{path}: a datafile is a JSON object with a "data" list')
    return [parse_entry(item, f"{path} entry {i}") for i, item in enumerate(doc["data"])]


def write_datafile(path: str | Path, entries: list[DataEntry]) -> None:
    """Write entries in the reference format, atomically."""
    write_json_atomic(path, {"data": [e.to_json() for e in entries]})


def rewrite_paths(
    entries: list[DataEntry],
    *,
    afeat_dir: str | Path | None = None,
    vfeat_dir: str | Path | None = None,
    source: str | Path | None = None,
) -> list[DataEntry]:
    """Point ``afeat`` / ``vfeat`` at ``<dir>/<clip_id>.npy`` (the reference's released layout).

    A clip id that would name a file outside ``<dir>`` (``../x``, an absolute path) is a
    :class:`ConfigError` naming ``source`` (the datafile) and the id.
    """
    out = []
    for e in entries:
        clip = e.clip_id
        new = DataEntry(e.labels, e.afeat, e.vfeat, e.wav, e.video, dict(e.extra))
        if afeat_dir is not None:
            new.afeat = str(feature_file(afeat_dir, clip, source))
        if vfeat_dir is not None:
            new.vfeat = str(feature_file(vfeat_dir, clip, source))
        out.append(new)
    return out


def feature_file(folder: str | Path, clip_id: str, source: str | Path | None = None) -> Path:
    """``<folder>/<clip_id>.npy``, refusing an id that would leave ``folder`` (``../``, an absolute path)."""
    base = os.path.abspath(folder)
    target = os.path.abspath(os.path.join(base, f"{clip_id}.npy"))
    if os.path.isabs(clip_id) or "\0" in clip_id or os.path.commonpath([base, target]) != base:
        where = f"{source}: " if source is not None else ""
        raise ConfigError(
            f"{where}video_id {clip_id!r} names a file outside the features folder {folder}; "
            "a video_id must not contain '..' components or start with '/'"
        )
    return Path(folder) / f"{clip_id}.npy"


def resolve_entry_path(value: str, datafile: str | Path | None = None) -> Path:
    """An entry's path: absolute as given; relative to the working folder, else to the datafile's folder."""
    p = Path(value).expanduser()
    if p.is_absolute() or p.exists() or datafile is None:
        return p
    beside = Path(datafile).parent / p
    return beside if beside.exists() else p
