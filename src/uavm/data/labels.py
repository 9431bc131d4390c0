"""Label vocabularies: the ``index,mid,display_name`` CSVs of VGGSound and AudioSet.

Datafiles name a clip's classes by ``mid``; models and metrics use the class
index. :class:`LabelSet` converts between the two. The two paper vocabularies
ship inside the package, so ``load_labels("vggsound")`` works offline.
"""

from __future__ import annotations

import csv
import importlib.resources
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, UAVMError

PACKAGED = ("vggsound", "audioset")


@dataclass(frozen=True)
class LabelSet:
    """An ordered class vocabulary: ``mids[i]`` and ``names[i]`` belong to class ``i``."""

    mids: tuple[str, ...]
    names: tuple[str, ...]
    source: str = ""

    def __post_init__(self) -> None:
        if len(self.mids) != len(self.names):
            raise ValueError("mids and names differ in length")
        object.__setattr__(self, "_lookup", {mid: i for i, mid in enumerate(self.mids)})

    def __len__(self) -> int:
        return len(self.mids)

    def index(self, mid: str) -> int:
        """The class index of ``mid``; an unknown mid is a :class:`UAVMError` naming the vocabulary."""
        try:
            return self._lookup[mid]
        except KeyError:
            raise UAVMError(f"label {mid!r} is not in the label vocabulary {self.source or '(unnamed)'}") from None

    def indices(self, labels: str | Iterable[str]) -> list[int]:
        """Class indices of a reference label string ``"mid1,mid2"`` or of a list of mids."""
        if isinstance(labels, str):
            labels = [m for m in labels.split(",") if m]
        return [self.index(m) for m in labels]

    def multi_hot(self, labels: str | Iterable[str]) -> np.ndarray:
        """A float32 ``[num_classes]`` vector with 1 at every listed class."""
        out = np.zeros(len(self), dtype=np.float32)
        out[self.indices(labels)] = 1.0
        return out


def read_label_csv(path: str | Path, source: str | None = None) -> LabelSet:
    """Read an ``index,mid,display_name`` CSV; rows are ordered by their ``index`` column.

    A mid named twice is an error (the second row's class could never be a target).
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: a spreadsheet's byte-order mark
            reader = csv.DictReader(f)
            rows = []
            for row in reader:
                row["_line"] = reader.line_num
                rows.append(row)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read label CSV ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{path}: cannot read label CSV ({exc})") from None
    if not rows or not {"index", "mid", "display_name"} <= set(rows[0]):
        raise ConfigError(f"{path}: not a label CSV (needs columns index,mid,display_name)")
    try:
        rows.sort(key=lambda r: int(r["index"]))
    except ValueError:
        raise ConfigError(f"{path}: the index column must hold integers") from None
    if [int(r["index"]) for r in rows] != list(range(len(rows))):
        raise ConfigError(f"{path}: indices must run 0..{len(rows) - 1} without gaps")
    first_line: dict[str, int] = {}
    for row in sorted(rows, key=lambda r: r["_line"]):
        if row["mid"] in first_line:
            raise ConfigError(
                f"{path} line {row['_line']}: mid {row['mid']!r} is already on line "
                f"{first_line[row['mid']]}; each mid must name one class"
            )
        first_line[row["mid"]] = row["_line"]
    return LabelSet(
        mids=tuple(r["mid"] for r in rows),
        names=tuple(r["display_name"] for r in rows),
        source=source or str(path),
    )


def labels_to_info(labels: LabelSet) -> dict[str, object]:
    """A JSON-able description of ``labels`` that :func:`labels_from_info` turns back into the set.

    The packaged vocabularies are named; any other is embedded (mids and names), so a model file
    that records it can be used on a machine without the CSV it was trained with.
    """
    if labels.source in PACKAGED:
        return {"labels": labels.source}
    return {"labels": labels.source, "label_mids": list(labels.mids), "label_names": list(labels.names)}


def labels_from_info(info: dict[str, object]) -> LabelSet | None:
    """The label set recorded by :func:`labels_to_info` (``None`` when ``info`` records none)."""
    if info.get("label_mids") is not None:
        return LabelSet(tuple(info["label_mids"]), tuple(info["label_names"]), str(info.get("labels") or ""))
    if info.get("labels"):
        return load_labels(str(info["labels"]))
    return None


def load_labels(name_or_path: str | Path) -> LabelSet:
    """The packaged vocabulary ``"vggsound"`` / ``"audioset"``, or a label CSV at a path."""
    text = str(name_or_path)
    if text.lower() in PACKAGED:
        resource = (
            importlib.resources.files("uavm") / "resources" / "labels" / f"{text.lower()}_class_labels_indices.csv"
        )
        with importlib.resources.as_file(resource) as path:
            return read_label_csv(path, source=text.lower())
    return read_label_csv(text)


# the class count of each packaged vocabulary (a model's head size says which one it was trained on)
CLASS_COUNTS: dict[str, int] = {"vggsound": 309, "audioset": 527}


def packaged_labels_for(num_classes: int) -> str | None:
    """The packaged vocabulary with ``num_classes`` classes (``"vggsound"``: 309, ``"audioset"``: 527), else ``None``."""
    return next((name for name, count in CLASS_COUNTS.items() if count == num_classes), None)


def labels_for_model(info: dict[str, object], num_classes: int, where: str) -> LabelSet:
    """The label set a model file records in its ``info`` (a run's own CSV is embedded there), else the
    packaged vocabulary of its class count; ``where`` (the model file) names it in the error."""
    recorded = labels_from_info(info)
    if recorded is not None:
        return recorded
    name = packaged_labels_for(num_classes)
    if name is None:
        raise ConfigError(f"{where}: a {num_classes}-class model that records no labels: give its label CSV (--labels)")
    return load_labels(name)
