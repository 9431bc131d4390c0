"""What a feature store holds besides the arrays: clip records, shard list, store manifest.

On disk a store is a folder::

    STORE/store.json                  manifest: format, seq_len, dim, label set, shard list
    STORE/<shard>/index.json          one record per row of the shard, in row order
    STORE/<shard>/clips.npy, labels.npy, label_vocab.npy
                                      the same records as columns (uavm.store.clip_index), what
                                      readers use; absent in shards written by older versions
    STORE/<shard>/audio.npy           float16 [rows, seq_len, dim] (absent if no clip has audio)
    STORE/<shard>/visual.npy          float16 [rows, seq_len, dim] (absent if no clip has video)

The manifest is the source of truth: a shard exists once it is listed there.
A shard folder is complete before it is renamed into place and listed, so an
interrupted writer never leaves a half-written shard in the store.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import write_json_atomic
from ..errors import UAVMError
from ..feature_spec import FeatureSpec
from ..modality import LONG_NAMES

FORMAT = "uavm.feature_store"
VERSION = 1
MANIFEST = "store.json"
INDEX = "index.json"
MODALITIES = LONG_NAMES  # the arrays of a shard: audio.npy, visual.npy
DTYPE = "float16"


@dataclass
class ClipRecord:
    """One clip of a store: where its rows are and what they hold.

    ``n_audio`` / ``n_visual`` count the real (unpadded) time steps, at most
    ``seq_len``; ``has_audio`` / ``has_visual`` say whether the modality was
    extracted at all (a clip without an audio track has ``has_audio=False``
    and zeros in its audio rows).
    """

    clip_id: str
    source: str
    labels: list[str]
    n_audio: int
    n_visual: int
    has_audio: bool
    has_visual: bool
    shard: int = -1
    row: int = -1

    def to_json(self) -> dict[str, Any]:
        """The record as stored in a shard index (its shard and row are implied by the position)."""
        out = asdict(self)
        del out["shard"], out["row"]
        return out

    @classmethod
    def from_json(cls, item: dict[str, Any], shard: int, row: int) -> ClipRecord:
        """A record read from a shard index."""
        return cls(
            clip_id=str(item["clip_id"]),
            source=str(item["source"]),
            labels=[str(m) for m in item["labels"]],
            n_audio=int(item["n_audio"]),
            n_visual=int(item["n_visual"]),
            has_audio=bool(item["has_audio"]),
            has_visual=bool(item["has_visual"]),
            shard=shard,
            row=row,
        )


@dataclass
class ShardInfo:
    """A committed shard: its folder name, row count and which modality arrays it has."""

    name: str
    rows: int
    modalities: list[str]


@dataclass
class Manifest:
    """The store-wide facts, kept in ``store.json``."""

    seq_len: int
    dim: int
    label_set: str | None = None
    shards: list[ShardInfo] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def feature_spec(self) -> FeatureSpec | None:
        """How the features were made (the metadata holds :meth:`FeatureSpec.to_dict`'s keys);
        ``None`` when the store does not say (e.g. packed from the reference's per-clip files).
        A store written before ``seq_len`` was recorded takes the manifest's ``seq_len``."""
        if not any(key in self.metadata for key in RECORDED_FEATURE_KEYS):
            return None
        return FeatureSpec.from_dict(self.metadata, f"feature store {MANIFEST}", seq_len=self.seq_len)

    @property
    def num_clips(self) -> int:
        """Rows over all shards."""
        return sum(s.rows for s in self.shards)

    def to_json(self) -> dict[str, Any]:
        """The manifest as written to ``store.json``."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "dtype": DTYPE,
            "seq_len": self.seq_len,
            "dim": self.dim,
            "label_set": self.label_set,
            "num_clips": self.num_clips,
            "metadata": self.metadata,
            "shards": [asdict(s) for s in self.shards],
        }

    def save(self, store: Path) -> None:
        """Write ``store.json`` atomically."""
        write_json_atomic(store / MANIFEST, self.to_json())

    @classmethod
    def load(cls, store: Path) -> Manifest:
        """Read ``store.json``; a missing or foreign file is a one-line error naming it."""
        path = store / MANIFEST
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            raise UAVMError(f"{store}: not a feature store (no {MANIFEST})") from None
        except (OSError, json.JSONDecodeError) as exc:
            raise UAVMError(f"{path}: unreadable store manifest ({exc})") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise UAVMError(f"{path}: not a uavm feature-store manifest")
        if doc.get("version", 0) > VERSION:
            raise UAVMError(f"{path}: store format version {doc['version']} is newer than this uavm reads ({VERSION})")
        try:
            return cls(
                seq_len=int(doc["seq_len"]),
                dim=int(doc["dim"]),
                label_set=doc.get("label_set"),
                shards=[ShardInfo(s["name"], int(s["rows"]), list(s["modalities"])) for s in doc["shards"]],
                metadata=dict(doc.get("metadata") or {}),
            )
        except KeyError as exc:
            raise UAVMError(f"{path}: damaged store manifest: the key {exc.args[0]!r} is missing") from None
        except (TypeError, ValueError, AttributeError) as exc:
            raise UAVMError(f"{path}: damaged store manifest: a value has the wrong type ({exc})") from None


RECORDED_FEATURE_KEYS = (
    "audio_encoder",
    "visual_encoder",
)  # metadata keys present in every store that records its spec


class ManifestView:
    """The store-wide facts of an object holding a :class:`Manifest` (the reader and the writer)."""

    manifest: Manifest

    @property
    def seq_len(self) -> int:
        """Time steps per clip."""
        return self.manifest.seq_len

    @property
    def dim(self) -> int:
        """Feature dimension."""
        return self.manifest.dim

    @property
    def label_set(self) -> str | None:
        """Name (or CSV path) of the label vocabulary the records' mids belong to, if known."""
        return self.manifest.label_set

    @property
    def metadata(self) -> dict[str, Any]:
        """Free-form facts stored by the writer (e.g. the feature spec)."""
        return self.manifest.metadata

    @property
    def feature_spec(self) -> FeatureSpec | None:
        """How the features were made, ``None`` when the store does not record it (a packed store)."""
        return self.manifest.feature_spec


def stored_feature_settings(store: str | Path) -> dict[str, Any]:
    """The feature spec of the store at ``store`` as :meth:`FeatureSpec.to_dict` writes it (what a trained
    model's info records); ``{}`` when ``store`` is not a feature store or does not record its spec."""
    path = Path(store)
    if not (path / MANIFEST).is_file():
        return {}
    spec = Manifest.load(path).feature_spec
    return spec.to_dict() if spec is not None else {}


def read_shard_index(store: Path, shard: ShardInfo, shard_number: int) -> list[ClipRecord]:
    """The records of one committed shard."""
    path = store / shard.name / INDEX
    try:
        items = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UAVMError(f"{path}: unreadable shard index ({exc})") from None
    if len(items) != shard.rows:
        raise UAVMError(f"{path}: holds {len(items)} records, the manifest says {shard.rows}")
    try:
        return [ClipRecord.from_json(item, shard_number, row) for row, item in enumerate(items)]
    except KeyError as exc:
        raise UAVMError(f"{path}: damaged shard index: a record lacks the key {exc.args[0]!r}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise UAVMError(f"{path}: damaged shard index: a value has the wrong type ({exc})") from None


def read_records(store: Path, manifest: Manifest) -> list[ClipRecord]:
    """All records of a store, in shard then row order."""
    records: list[ClipRecord] = []
    for number, shard in enumerate(manifest.shards):
        records.extend(read_shard_index(store, shard, number))
    return records
