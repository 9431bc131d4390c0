"""Datasets of audio / visual feature sequences, and the batches training and evaluation read.

Two sources behind one interface (:class:`FeatureDataset`): the packed feature
store of ``uavm pack`` (:class:`StoreDataset`, one gather for a whole batch) and the reference's per-clip ``.npy`` datafiles (:class:`DatafileDataset`).
Training batches come from an :class:`EpochPlan` — the epoch's clip order, each
step's modality and every clip's augmentation draws, all fixed up front from
``(seed, epoch)`` — so a batch is the same whichever process builds it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.utils.data

from ..errors import ConfigError, MediaError, UAVMError
from ..modality import MODALITIES, NAMES
from ..sequence import pad_or_cut
from ..store import FeatureStore
from ..store.clip_index import ClipIds, ClipIndex
from .datafile import read_datafile, resolve_entry_path
from .label_index import LabelIndex
from .labels import LabelSet
from .sampling import draw_epoch, epoch_rng
from .transforms import (
    Augmentation,
    AugmentConfig,
    draw_augmentation,
    feat_norm,
    finish_batch,
    time_roll,
)


class FeatureDataset:
    """Clips with label indices and per-modality feature sequences ``[seq_len, dim]``."""

    labels: LabelSet
    clip_ids: list[str]
    label_indices: list[list[int]]
    seq_len: int

    def __len__(self) -> int:
        return len(self.clip_ids)

    @property
    def name(self) -> str:
        """The file or folder the clips come from, for messages."""
        raise NotImplementedError

    def has_modality(self, modality: str) -> bool:
        """Whether any clip has features of ``modality`` (``"a"``/``"v"``); absent ones read as zeros."""
        raise NotImplementedError

    def first_nonfinite(self, indices: np.ndarray, chunk: int = 256) -> tuple[int, str] | None:
        """``(clip, modality)`` of the first of the clips ``indices`` whose features hold NaN or ±inf, else ``None``."""
        indices = np.unique(np.asarray(indices, dtype=np.int64))
        for m in MODALITIES:
            if not self.has_modality(m):
                continue
            for lo in range(0, len(indices), chunk):
                part = indices[lo : lo + chunk]
                bad = ~np.isfinite(self.read(part, m)).all(axis=(1, 2))
                if bad.any():
                    return int(part[np.argmax(bad)]), m
        return None

    def nonfinite_error(self, clip: int, modality: str) -> UAVMError:
        """The one-line error for clip ``clip`` whose ``modality`` features are not finite."""
        return UAVMError(
            f"{self.name}, clip {self.clip_ids[clip]}: its {NAMES[modality]} features hold NaN or infinite values; "
            "re-extract the clip or leave it out"
        )

    def read(self, indices: np.ndarray, modality: str, shifts: np.ndarray | None = None) -> np.ndarray:
        """Features of the clips ``indices`` for ``modality`` (``"a"``/``"v"``): ``[n, seq_len, dim]``.

        ``shifts`` (one per clip) rolls each sequence in time like ``torch.roll(x, shift, 0)``.
        """
        raise NotImplementedError

    def dim(self, modality: str) -> int:
        """Feature width of ``modality``."""
        raise NotImplementedError

    def subset(self, indices: np.ndarray) -> SubsetDataset:
        """A view of the clips ``indices`` (in that order)."""
        return SubsetDataset(self, indices)

    def targets(self, indices: np.ndarray | None = None) -> np.ndarray:
        """Multi-hot targets ``[n, num_classes]`` (float32) of the clips ``indices`` (default: all)."""
        rows = range(len(self)) if indices is None else indices
        out = np.zeros((len(rows), len(self.labels)), dtype=np.float32)
        for i, clip in enumerate(rows):
            out[i, self.label_indices[clip]] = 1.0
        return out


class StoreDataset(FeatureDataset):
    """Clips of a packed feature store (``uavm.store.FeatureStore``)."""

    def __init__(self, store, labels: LabelSet, seq_len: int | None = None):
        if isinstance(store, (str, Path)):
            store = FeatureStore(store)
        self.store = store
        self.labels = labels
        self.seq_len = int(seq_len or store.seq_len)
        index = store.index
        if not len(index):
            raise UAVMError(f"{self.name}: the feature store holds no clips")
        self.clip_ids = ClipIds(index.clip_ids)
        self.label_indices = LabelIndex(index.label_offsets, _vocab_lookup(labels, index)[index.label_codes])
        empty = np.flatnonzero(self.label_indices.counts() == 0)
        if len(empty):
            raise UAVMError(f"feature store {self.name}, clip {index.clip_id(int(empty[0]))}: the clip has no labels")

    @property
    def name(self) -> str:
        return str(getattr(self.store, "path", "the feature store"))

    def has_modality(self, modality: str) -> bool:
        index = self.store.index
        return bool((index.has_audio if modality == "a" else index.has_visual).any())

    def read(self, indices: np.ndarray, modality: str, shifts: np.ndarray | None = None) -> np.ndarray:
        if shifts is not None and self.seq_len == self.store.seq_len:  # the roll inside the gather: one pass
            return self.store.read(np.asarray(indices), NAMES[modality], shifts)
        x = pad_or_cut(self.store.read(np.asarray(indices), NAMES[modality]), self.seq_len)
        return x if shifts is None else time_roll(x, shifts)

    def dim(self, modality: str) -> int:
        return int(self.store.dim)


class DatafileDataset(FeatureDataset):
    """Clips of a reference datafile whose entries name per-clip ``afeat`` / ``vfeat`` ``.npy`` files.

    Missing feature files are found when the dataset opens (one error naming the
    first and the count), not hours into training.
    """

    def __init__(self, datafile: str | Path, labels: LabelSet, seq_len: int = 30, check: bool = True):
        self.datafile = Path(datafile)
        entries = read_datafile(self.datafile)
        if not entries:
            raise UAVMError(f"{self.datafile}: the datafile lists no clips")
        self.labels = labels
        self.seq_len = int(seq_len)
        self.clip_ids = [e.clip_id for e in entries]
        self.label_indices = [
            _label_indices(labels, e.labels, f"{self.datafile} entry {i}") for i, e in enumerate(entries)
        ]
        self.paths: dict[str, list[Path | None]] = {"a": [], "v": []}
        for e in entries:
            for m, value in (("a", e.afeat), ("v", e.vfeat)):
                self.paths[m].append(resolve_entry_path(value, self.datafile) if value else None)
        if check:
            self._check_files()
        self._dims: dict[str, int] = {}

    @property
    def name(self) -> str:
        return str(self.datafile)

    def has_modality(self, modality: str) -> bool:
        return any(p is not None for p in self.paths[modality])

    def _check_files(self) -> None:
        for m, paths in self.paths.items():
            if all(p is None for p in paths):
                continue
            missing = [i for i, p in enumerate(paths) if p is None or not p.is_file()]
            if missing:
                first = paths[missing[0]]
                raise UAVMError(
                    f"{self.datafile}: {len(missing)} clip(s) lack their {'audio' if m == 'a' else 'visual'} "
                    f"feature file, e.g. entry {missing[0]} ({first or 'no path given'})"
                )
            self._check_widths(m, paths)

    def _check_widths(self, modality: str, paths: list[Path | None]) -> None:
        """Every feature file of ``modality`` is ``[frames, D]`` with one ``D`` (read from the .npy headers).

        Found when the data is opened, naming the file, rather than when a batch first mixes widths.
        """
        width: tuple[int, Path] | None = None
        for i, path in enumerate(paths):
            if path is None:
                continue
            shape = npy_shape(path)
            if len(shape) != 2:
                raise MediaError(
                    path, f"expected a [frames, dim] feature array, got shape {shape} ({self.datafile} entry {i})"
                )
            if width is None:
                width = (shape[1], path)
            elif shape[1] != width[0]:
                raise MediaError(
                    path,
                    f"features of width {shape[1]}, but {width[1]} (the first "
                    f"{'audio' if modality == 'a' else 'visual'} file of {self.datafile}) has "
                    f"{width[0]}; every clip's features must come from the same encoder "
                    f"({self.datafile} entry {i})",
                )

    def load(self, clip: int, modality: str) -> np.ndarray:
        """One clip's feature file as stored (``[frames, dim]``)."""
        path = self.paths[modality][clip]
        if path is None:
            raise UAVMError(f"{self.datafile} entry {clip}: no {'afeat' if modality == 'a' else 'vfeat'} path")
        try:
            x = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise MediaError(path, f"cannot read feature file ({exc})") from None
        if x.ndim != 2:
            raise MediaError(path, f"expected a [frames, dim] array, got shape {x.shape}")
        return x

    def read(self, indices: np.ndarray, modality: str, shifts: np.ndarray | None = None) -> np.ndarray:
        x = np.stack([pad_or_cut(self.load(int(i), modality), self.seq_len) for i in indices])
        return x if shifts is None else time_roll(x, shifts)

    def dim(self, modality: str) -> int:
        if modality not in self._dims:
            self._dims[modality] = int(self.load(0, modality).shape[1])
        return self._dims[modality]


def npy_shape(path: Path) -> tuple[int, ...]:
    """The array shape in a ``.npy`` file's header (the data is not read)."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, _ = np.lib.format.read_array_header_1_0(f)
            else:
                shape, _, _ = np.lib.format.read_array_header_2_0(f)
    except (OSError, ValueError) as exc:
        raise MediaError(path, f"cannot read feature file ({exc})") from None
    return tuple(int(n) for n in shape)


def check_input_widths(model_config: Any, dataset: FeatureDataset, model_name: str, data_name: str) -> None:
    """One-line :class:`ConfigError` when the data's feature widths are not the ones the model takes."""
    for m, key in (("a", "a_input_dim"), ("v", "v_input_dim")):
        want = getattr(model_config, key, None)
        try:
            have = dataset.dim(m)
        except (UAVMError, IndexError, KeyError):
            continue  # that modality is absent: the readers report it themselves
        if want is not None and have != want:
            kind = "audio" if m == "a" else "visual"
            raise ConfigError(
                f"{model_name} takes {kind} features of width {want}, but {data_name} holds width "
                f"{have}: use features made with the encoders the model was trained on "
                "(`uavm info MODEL` names them), or train a model on these features"
            )


class SubsetDataset(FeatureDataset):
    """Some clips of another dataset, re-indexed from 0."""

    def __init__(self, base: FeatureDataset, indices: np.ndarray):
        self.base = base
        self.index = np.asarray(indices, dtype=np.int64)
        self.labels = base.labels
        self.seq_len = base.seq_len
        ids = base.clip_ids
        self.clip_ids = ClipIds(ids.ids[self.index]) if isinstance(ids, ClipIds) else [ids[i] for i in self.index]
        self.label_indices = LabelIndex.from_lists(base.label_indices).subset(self.index)

    @property
    def name(self) -> str:
        return self.base.name

    def has_modality(self, modality: str) -> bool:
        return self.base.has_modality(modality)

    def read(self, indices: np.ndarray, modality: str, shifts: np.ndarray | None = None) -> np.ndarray:
        return self.base.read(self.index[np.asarray(indices, dtype=np.int64)], modality, shifts)

    def dim(self, modality: str) -> int:
        return self.base.dim(modality)


def _vocab_lookup(labels: LabelSet, index: ClipIndex) -> np.ndarray:
    """Class index of each of the store's mids; an unknown mid names the first clip that has it."""
    out = np.empty(len(index.label_vocab), dtype=np.int64)
    for code, mid in enumerate(index.label_vocab):
        try:
            out[code] = labels.index(mid)
        except UAVMError as exc:
            clip = int(np.searchsorted(index.label_offsets, np.flatnonzero(index.label_codes == code)[0], "right")) - 1
            where = f"feature store {index.store}".strip()
            raise UAVMError(f"{where}, clip {index.clip_id(clip)}: {exc}") from None
    return out


def _label_indices(labels: LabelSet, mids: list[str], where: str) -> list[int]:
    try:
        out = labels.indices(mids)
    except UAVMError as exc:
        raise UAVMError(f"{where}: {exc}") from None
    if not out:
        raise UAVMError(f"{where}: the clip has no labels")
    return out


def open_dataset(path: str | Path, labels: LabelSet, seq_len: int = 30) -> FeatureDataset:
    """A ``.json`` reference datafile or a packed feature-store folder."""
    path = Path(path)
    if path.suffix == ".json":
        return DatafileDataset(path, labels, seq_len)
    if path.is_dir():
        return StoreDataset(path, labels, seq_len)
    raise ConfigError(f"{path}: not a datafile (.json) or a feature-store folder")


def split_validation(dataset: FeatureDataset, fraction: float, seed: int) -> tuple[FeatureDataset, FeatureDataset]:
    """Hold out a seeded random ``fraction`` of the clips: ``(train, validation)``."""
    if not 0 < fraction < 1:
        raise ConfigError(f"val_fraction must be in (0, 1), got {fraction}")
    order = np.random.default_rng([seed, 0x5A1]).permutation(len(dataset))
    n_val = max(1, int(round(fraction * len(dataset))))
    if n_val >= len(dataset):
        raise ConfigError(f"val_fraction {fraction} leaves no training clips out of {len(dataset)}")
    return dataset.subset(np.sort(order[n_val:])), dataset.subset(np.sort(order[:n_val]))


@dataclass
class EpochPlan:
    """Everything random about one training epoch, for the global batch of size ``batch_size``."""

    indices: np.ndarray
    aug: Augmentation
    modalities: list[str]
    batch_size: int

    @property
    def steps(self) -> int:
        return len(self.modalities)

    def batch(self, step: int, rank: int = 0, world_size: int = 1) -> tuple[np.ndarray, Augmentation, str]:
        """Rank ``rank``'s share (positions ``rank::world_size``) of the global batch ``step``."""
        sel = slice(step * self.batch_size + rank, (step + 1) * self.batch_size, world_size)
        return self.indices[sel], self.aug[sel], self.modalities[step]


def plan_epoch(
    n_items: int,
    *,
    batch_size: int,
    epoch: int,
    seed: int,
    augment: AugmentConfig,
    weights: np.ndarray | None = None,
    a_tr_prob: float = 0.5,
    both_modalities: bool = False,
) -> EpochPlan:
    """Draw epoch ``epoch``: ``n_items`` clips (weighted with replacement, or shuffled), full batches only."""
    steps = n_items // batch_size
    if steps == 0:
        raise ConfigError(f"batch size {batch_size} is larger than the training set ({n_items} clips)")
    indices = draw_epoch(n_items, n_items, weights, epoch_rng(seed, epoch, 0))[: steps * batch_size]
    aug = draw_augmentation(len(indices), n_items, augment, epoch_rng(seed, epoch, 1))
    if both_modalities:
        modalities = ["av"] * steps
    else:
        audio = epoch_rng(seed, epoch, 2).random(steps) < a_tr_prob
        modalities = ["a" if x else "v" for x in audio]
    return EpochPlan(indices=indices, aug=aug, modalities=modalities, batch_size=batch_size)


class TrainBatches(torch.utils.data.Dataset):
    """Map-style dataset of one epoch's training batches for one rank (use with ``batch_size=None``).

    Item ``step`` is the step's *raw* batch: only what must come from storage — the float16 rows
    of the step's modalities (clips, then the mixed clips' partners) and the small per-clip draws.
    :meth:`finish` (on the training device, after the DataLoader's pinned copy) turns it into
    ``{"a"/"v": [b, T, D] float32, "targets": [b, C] float32, "modality": "a" | "v" | "av"}``:
    feat_norm, mixup and targets (and the time roll with ``roll_on_device``) as one batched step.
    Without ``roll_on_device`` the gather reads the rows already rolled (time steps as its items:
    no extra pass, the cheaper choice when the step runs on a CPU); with it the loader reads whole
    rows, its cheapest gather, and a GPU rolls them in the step.
    """

    def __init__(
        self,
        dataset: FeatureDataset,
        augment: AugmentConfig,
        *,
        rank: int = 0,
        world_size: int = 1,
        roll_on_device: bool = False,
    ):
        self.dataset = dataset
        self.augment = augment
        self.rank, self.world_size = rank, world_size
        self.roll_on_device = roll_on_device
        self.plan: EpochPlan | None = None
        self.labels = LabelIndex.from_lists(dataset.label_indices)

    def __len__(self) -> int:
        return 0 if self.plan is None else self.plan.steps

    def __getitem__(self, step: int) -> dict:
        indices, aug, modality = self.plan.batch(step, self.rank, self.world_size)
        mixed = np.flatnonzero(aug.mixed)
        partners = aug.partner[mixed]
        clips = np.concatenate([indices, partners])
        # the same shift moves a clip and its partner, so the roll commutes with normalising and mixing
        shifts = np.concatenate([aug.shift, aug.shift[mixed]])
        raw: dict = {"modality": modality, "size": len(indices)}
        if self.roll_on_device:  # whole rows here (the cheapest gather); the device rolls them
            raw["shift"] = torch.from_numpy(shifts)
        for m in MODALITIES:
            if m in modality:
                rows = self.dataset.read(clips, m, None if self.roll_on_device else shifts)
                raw[m] = torch.from_numpy(np.ascontiguousarray(rows))
        rows, classes = self.labels.pairs(indices)
        own_mixed = aug.mixed[rows]
        prow, pclass = self.labels.pairs(partners)
        lam = aug.lam.astype(np.float64)
        raw.update(
            mixed=torch.from_numpy(mixed),
            lam=torch.from_numpy(lam[mixed]),
            set_rows=torch.from_numpy(rows[~own_mixed]),
            set_classes=torch.from_numpy(classes[~own_mixed]),
            add_rows=torch.from_numpy(np.concatenate([rows[own_mixed], mixed[prow]])),
            add_classes=torch.from_numpy(np.concatenate([classes[own_mixed], pclass])),
            add_weights=torch.from_numpy(np.concatenate([lam[rows[own_mixed]], 1.0 - lam[mixed[prow]]])),
        )
        return raw

    def finish(self, raw: dict, device: torch.device | str = "cpu") -> dict:
        """The training batch of ``raw`` (an item of this dataset), made on ``device``."""
        return finish_batch(raw, self.augment, len(self.dataset.labels), device)


class EvalBatches(torch.utils.data.Dataset):
    """Consecutive evaluation batches over clips ``[start, stop)``: features (optionally L2-normalised) and targets.

    Item ``i`` is ``{"a", "v": [b, T, D] float32, "targets": [b, C], "index": [b]}``.
    """

    def __init__(
        self,
        dataset: FeatureDataset,
        batch_size: int,
        *,
        normalise: bool = True,
        start: int = 0,
        stop: int | None = None,
        modalities: tuple[str, ...] = MODALITIES,
    ):
        self.dataset = dataset
        self.batch_size = batch_size
        self.normalise = normalise
        self.start, self.stop = start, len(dataset) if stop is None else stop
        self.modalities = modalities

    def __len__(self) -> int:
        return -(-max(0, self.stop - self.start) // self.batch_size)

    def __getitem__(self, i: int) -> dict:
        lo = self.start + i * self.batch_size
        index = np.arange(lo, min(lo + self.batch_size, self.stop))
        batch: dict = {"index": torch.from_numpy(index), "targets": torch.from_numpy(self.dataset.targets(index))}
        for m in self.modalities:
            x = torch.from_numpy(np.ascontiguousarray(self.dataset.read(index, m), dtype=np.float32))
            batch[m] = feat_norm(x) if self.normalise else x
        return batch

    def checked(self, loader: Iterable[dict]) -> Iterator[dict]:
        """The items of ``loader`` (over this dataset), stopping with the dataset's one-line error at a clip
        whose features hold NaN or infinite values. Run where the batches are consumed (the main process),
        so the error reaches the user as it is, not wrapped by a DataLoader worker."""
        for batch in loader:
            for m in self.modalities:
                if bool(torch.isfinite(batch[m].sum())):  # one cheap pass; the rows only when it is not finite
                    continue
                bad = ~torch.isfinite(batch[m]).flatten(1).all(dim=1)
                if bool(bad.any()):  # (else huge finite values overflowed the sum)
                    raise self.dataset.nonfinite_error(int(batch["index"][int(bad.nonzero()[0, 0])]), m)
            yield batch
