"""What to extract: a folder of media, a CSV / JSON manifest, or a reference raw-media datafile.

Every form becomes a list of :class:`ClipInput` (id, media path, label mids) in a
fixed order, so every worker of a distributed run sees the same list.

* folder: every entry with a media suffix, recursively, sorted; the id is the
  path inside the folder without its suffix; no labels. Entries that are not
  regular files (dangling links, link loops, folders named ``*.mp4``, FIFOs)
  are listed too, so each becomes a failure row instead of vanishing;
* CSV: a header with ``path`` and optionally ``id`` and ``labels`` (mids
  separated by commas, quoted); relative paths are taken from the CSV's folder;
* JSON list: objects with ``path`` and optionally ``id`` and ``labels``;
* reference datafile ``{"data": [...]}``: the media is ``video`` (else ``wav``),
  the id ``video_id`` (else the file name stem), the labels ``labels``.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data.datafile import read_datafile, resolve_entry_path
from ..errors import ConfigError

MEDIA_SUFFIXES = frozenset(
    {
        ".mp4",
        ".m4v",
        ".mov",
        ".mkv",
        ".webm",
        ".avi",
        ".flv",
        ".wmv",
        ".mpg",
        ".mpeg",
        ".ts",
        ".3gp",
        ".ogv",
        ".wav",
        ".flac",
        ".mp3",
        ".m4a",
        ".aac",
        ".ogg",
        ".opus",
        ".oga",
        ".mka",
        ".m2ts",
        ".mts",
        ".3g2",
        ".wma",
        ".aif",
        ".aiff",
    }
)


@dataclass(frozen=True)
class ClipInput:
    """One clip to extract."""

    clip_id: str
    path: Path
    labels: tuple[str, ...] = ()
    data: bytes | None = field(default=None, repr=False, compare=False)  # the media bytes (an archive member)
    split: str | None = None  # which store a routed extraction puts it in (see :mod:`.archives`)


def read_inputs(source: str | Path) -> list[ClipInput]:
    """The clips named by ``source`` (folder, ``.csv``, ``.json``), in a deterministic order."""
    source = Path(source)
    if source.is_dir():
        items = _from_folder(source)
    elif not source.is_file():
        raise ConfigError(f"{source}: no such folder or manifest file")
    elif source.suffix.lower() == ".csv":
        items = _from_csv(source)
    elif source.suffix.lower() == ".json":
        items = _from_json(source)
    else:
        raise ConfigError(f"{source}: give a folder of media, a .csv or a .json manifest")
    _check_unique(source, items)
    return items


def media_in_folder(folder: Path) -> list[Path]:
    """The entries below ``folder`` with a media suffix (hidden ones skipped), sorted.

    Not only regular files: a dangling link, a folder named ``x.mp4`` or a FIFO is
    listed so that opening it reports what it is (see ``file_problem``).
    """
    return sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in MEDIA_SUFFIXES and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def _from_folder(folder: Path) -> list[ClipInput]:
    return [ClipInput(p.relative_to(folder).with_suffix("").as_posix(), p) for p in media_in_folder(folder)]


def _from_csv(path: Path) -> list[ClipInput]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{path}: unreadable CSV manifest ({exc})") from None
    if rows and "path" not in rows[0]:
        raise ConfigError(f"{path}: a CSV manifest needs a 'path' column (optional: id, labels)")
    return [_item(row, path, f"{path} row {i + 2}") for i, row in enumerate(rows)]


def _from_json(path: Path) -> list[ClipInput]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: unreadable JSON manifest ({exc})") from None
    if isinstance(doc, dict) and "data" in doc:
        return _from_datafile(path)
    if not isinstance(doc, list):
        raise ConfigError(f'{path}: a JSON manifest is a list of {{path, id, labels}} or a datafile {{"data": [...]}}')
    return [_item(obj, path, f"{path} entry {i}") for i, obj in enumerate(doc)]


def _from_datafile(path: Path) -> list[ClipInput]:
    items = []
    for i, entry in enumerate(read_datafile(path)):
        media = entry.video or entry.wav
        if not media:
            hint = " (a feature datafile: use `uavm pack`)" if entry.afeat or entry.vfeat else ""
            raise ConfigError(f"{path} entry {i}: names no media file ('video' or 'wav'){hint}")
        items.append(ClipInput(entry.clip_id, resolve_entry_path(media, path), tuple(entry.labels)))
    return items


def _item(obj: Any, manifest: Path, where: str) -> ClipInput:
    if not isinstance(obj, dict) or not obj.get("path"):
        raise ConfigError(f"{where}: needs a 'path'")
    path = resolve_entry_path(str(obj["path"]), manifest)
    labels = obj.get("labels") or []
    if isinstance(labels, str):
        labels = [m.strip() for m in labels.split(",") if m.strip()]
    clip_id = str(obj.get("id") or "") or path.stem
    return ClipInput(clip_id, path, tuple(str(m) for m in labels))


def _check_unique(source: Path, items: list[ClipInput]) -> None:
    repeated = [cid for cid, n in Counter(i.clip_id for i in items).items() if n > 1]
    if repeated:
        shown = ", ".join(repr(c) for c in repeated[:3])
        raise ConfigError(
            f"{source}: clip ids must be unique; repeated: {shown}"
            + (f" and {len(repeated) - 3} more" if len(repeated) > 3 else "")
        )
