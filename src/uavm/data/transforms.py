"""The training-time transforms of the reference recipe (mixup, label smoothing, noise, roll), on whole batches.

Per clip, in the reference's order: pad / cut to ``seq_len`` → L2-normalise every
time step (``feat_norm``) → mixup with a partner clip (probability ``mixup``,
partner uniform over the dataset, λ ~ Beta(10, 10); the same λ mixes audio,
visual and labels) → one circular time shift in [-15, 14] shared by audio and
visual ("noise"). Targets start at ε/C everywhere; without mixup the positives
are set to 1-ε, with mixup the clip's positives get +λ(1-ε) and the partner's
+(1-λ)(1-ε). Random draws happen up front (:func:`draw_augmentation`) so that a
batch is a pure function of its draws: the same on every DDP rank, in every
worker process and after a resume.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..device import torch_threads

BETA_ALPHA = 10.0
SHIFT_LOW, SHIFT_HIGH = -15, 15  # numpy's randint(-15, 15): shifts -15..14


@dataclass(frozen=True)
class AugmentConfig:
    """Which training transforms run, with the reference's names."""

    mixup: float = 0.0
    label_smoothing: float = 0.0
    noise: bool = False
    feat_norm: bool = True


@dataclass
class Augmentation:
    """Per-clip random draws: mixed or not, partner index, λ (1 where not mixed), time shift (0 without noise)."""

    mixed: np.ndarray
    partner: np.ndarray
    lam: np.ndarray
    shift: np.ndarray

    def __getitem__(self, sel: slice | np.ndarray) -> Augmentation:
        return Augmentation(self.mixed[sel], self.partner[sel], self.lam[sel], self.shift[sel])

    def __len__(self) -> int:
        return len(self.mixed)


def draw_augmentation(n: int, n_items: int, config: AugmentConfig, rng: np.random.Generator) -> Augmentation:
    """The random draws of ``n`` training clips from a dataset of ``n_items`` clips."""
    mixed = rng.random(n) < config.mixup
    partner = rng.integers(0, n_items, size=n)
    lam = rng.beta(BETA_ALPHA, BETA_ALPHA, size=n)
    shift = rng.integers(SHIFT_LOW, SHIFT_HIGH, size=n)
    return Augmentation(
        mixed=mixed,
        partner=np.where(mixed, partner, -1),
        lam=np.where(mixed, lam, 1.0),
        shift=shift if config.noise else np.zeros(n, dtype=np.int64),
    )


def feat_norm(x: torch.Tensor) -> torch.Tensor:
    """L2-normalise every time step (last axis); all-zero steps stay zero."""
    return F.normalize(x, dim=-1)


def mix(x: torch.Tensor, partner: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """Row-wise ``λ·x + (1-λ)·partner`` for ``[B, T, D]`` batches and ``λ`` of shape ``[B]``."""
    lam = lam.to(x.dtype).view(-1, *([1] * (x.ndim - 1)))
    return lam * x + (1 - lam) * partner


def time_roll(x: np.ndarray | torch.Tensor, shifts: np.ndarray) -> np.ndarray | torch.Tensor:
    """Per-row circular shift along time, like ``torch.roll(x[b], shifts[b], 0)`` for every row.

    Works on NumPy arrays and tensors ``[B, T, ...]``; always returns a new array. It copies whole
    time steps, so it is cheap enough to run on the float16 features before anything else.
    """
    shifts = np.asarray(shifts, dtype=np.int64)
    length = x.shape[1]
    source = (np.arange(length)[None, :] - shifts[:, None]) % length
    rows = np.arange(len(shifts))[:, None]
    if isinstance(x, torch.Tensor):
        return x[torch.from_numpy(rows), torch.from_numpy(source)]
    return x[rows, source]


def make_targets(
    labels: Sequence[Sequence[int]],
    num_classes: int,
    smoothing: float = 0.0,
    partner_labels: Sequence[Sequence[int] | None] | None = None,
    lam: np.ndarray | None = None,
) -> torch.Tensor:
    """Soft targets ``[B, C]`` of a batch; rows with a partner are mixed with weight ``lam``."""
    out = np.full((len(labels), num_classes), smoothing / num_classes, dtype=np.float64)
    for row, own in enumerate(labels):
        other = partner_labels[row] if partner_labels is not None else None
        if other is None:
            out[row, list(own)] = 1.0 - smoothing
        else:
            weight = float(lam[row])
            np.add.at(out[row], list(own), weight * (1.0 - smoothing))
            np.add.at(out[row], list(other), (1.0 - weight) * (1.0 - smoothing))
    return torch.from_numpy(out.astype(np.float32))


def finish_batch(raw: dict, config: AugmentConfig, num_classes: int, device: torch.device | str = "cpu") -> dict:
    """The training batch of a loader's raw batch (see ``TrainBatches``), made on ``device`` in one batched step.

    ``raw[m]`` holds the float16 rows of the batch's ``raw["size"]`` clips followed by those of
    the mixed clips' partners, rolled in time already or, when ``raw["shift"]`` is given, rolled
    here. The rows go to ``device`` (a non-blocking copy, pinned by the DataLoader on a GPU) and
    the roll, feat_norm, mixup and soft targets are made there. On a CPU the batch is handled in
    cache-sized blocks on one thread, so that the float32 batch is written to memory once.
    Returns ``{"modality", "a"/"v": float32 [B, T, D], "targets": float32 [B, C]}``.
    """
    device = torch.device(device)
    if device.type == "cpu":
        # one thread: the step's cache-sized ops gain little from a pool, and on a busy machine every op
        # would wait for the pool's other threads to be scheduled (so would threads of our own taking
        # blocks in turn: measured slower than one thread while other processes ran)
        with torch_threads(1):
            return _finish_batch(raw, config, num_classes, device)
    return _finish_batch(raw, config, num_classes, device)


def _finish_batch(raw: dict, config: AugmentConfig, num_classes: int, device: torch.device) -> dict:
    size = int(raw["size"])
    mixed = raw["mixed"].to(device, non_blocking=True)
    lam = raw["lam"].to(device, non_blocking=True).to(torch.float32)
    batch: dict = {"modality": raw["modality"]}
    source = None
    for m in ("a", "v"):
        if m in raw:
            rows = raw[m].to(device, non_blocking=True)
            if source is None and "shift" in raw:  # rows not rolled by the loader
                source = _roll_source(raw["shift"], rows.shape[1], device)
            batch[m] = _finish_features(rows, source, size, mixed, lam, config.feat_norm)
    batch["targets"] = _finish_targets(raw, size, num_classes, config.label_smoothing, device)
    return batch


def _roll_source(shift: torch.Tensor, steps: int, device: torch.device) -> torch.Tensor | None:
    """Flat time-step indices of rows ``[n, T]`` rolled like ``torch.roll(row, shift, 0)`` (``None``: no shift)."""
    if not bool(shift.any()):
        return None
    shift = shift.to(torch.int64)
    time = (torch.arange(steps)[None, :] - shift[:, None]) % steps
    return (torch.arange(len(shift))[:, None] * steps + time).reshape(-1).to(device, non_blocking=True)


def _rolled(rows: torch.Tensor, source: torch.Tensor | None, lo: int, hi: int) -> torch.Tensor:
    """Rows ``lo:hi`` of ``rows`` ``[n, T, D]``, rolled in time by ``source`` (see :func:`_roll_source`)."""
    if source is None:
        return rows[lo:hi]
    steps, dim = rows.shape[1], rows.shape[2]
    flat = rows.reshape(-1, dim)
    return flat.index_select(0, source[lo * steps : hi * steps]).view(hi - lo, steps, dim)


CACHE_BLOCK_BYTES = 1 << 22  # float32 rows handled together on a CPU, in cache (see benchmarks/RESULTS_train.md)


def _finish_features(
    rows: torch.Tensor, source: torch.Tensor | None, size: int, mixed: torch.Tensor, lam: torch.Tensor, normalise: bool
) -> torch.Tensor:
    """``[B, T, D]`` float32: rows ``:size`` rolled and normalised, the mixed ones mixed with rows ``size:``."""
    out = torch.empty((size, *rows.shape[1:]), dtype=torch.float32, device=rows.device)
    if out.device.type != "cpu":  # a GPU: whole-batch kernels
        out.copy_(_rolled(rows, source, 0, size))
        if normalise:
            out.div_(torch.linalg.vector_norm(out, dim=-1, keepdim=True).clamp_min_(1e-12))
        if len(mixed):
            _mix_into(out, mixed, _partner_rows(_rolled(rows, source, size, len(rows)), normalise), lam)
        return out
    # a CPU: block by block, so that each block is rolled, converted, normalised and mixed while in
    # cache and the float32 batch crosses memory once (the same operations, hence the same values)
    _finish_blocks(out, rows, source, size, mixed, lam, normalise)
    return out


def _finish_blocks(
    out: torch.Tensor,
    rows: torch.Tensor,
    source: torch.Tensor | None,
    size: int,
    mixed: torch.Tensor,
    lam: torch.Tensor,
    normalise: bool,
) -> None:
    step = max(1, CACHE_BLOCK_BYTES // max(1, out[0].numel() * 4))
    bounds = np.searchsorted(mixed.numpy(), np.arange(0, size + step, step))
    keep = lam.tolist()  # λ as float32 values, for mixing row by row
    for block, lo in enumerate(range(0, size, step)):
        hi = min(size, lo + step)
        part = out[lo:hi]
        part.copy_(_rolled(rows, source, lo, hi))
        if normalise:
            part.div_(torch.linalg.vector_norm(part, dim=-1, keepdim=True).clamp_min_(1e-12))
        j0, j1 = int(bounds[block]), int(bounds[block + 1])
        if j1 > j0:  # out[r] = λ·out[r] + (1-λ)·partner (as :func:`mix`), in place: no gather and scatter of rows
            partner = _partner_rows(_rolled(rows, source, size + j0, size + j1), normalise)
            partner.mul_((1 - lam[j0:j1]).view(-1, *([1] * (partner.ndim - 1))))
            targets = [out[r] for r in mixed[j0:j1].tolist()]
            torch._foreach_mul_(targets, keep[j0:j1])
            torch._foreach_add_(targets, list(partner.unbind(0)))


def _partner_rows(partner: torch.Tensor, normalise: bool) -> torch.Tensor:
    other = partner.to(torch.float32, copy=True)  # never the raw rows themselves
    if normalise:
        other.div_(torch.linalg.vector_norm(other, dim=-1, keepdim=True).clamp_min_(1e-12))
    return other


def _mix_into(out: torch.Tensor, rows: torch.Tensor, partner: torch.Tensor, lam: torch.Tensor) -> None:
    """``out[rows] = λ·out[rows] + (1-λ)·partner`` (as :func:`mix`), in place."""
    shape = (-1, *([1] * (out.ndim - 1)))
    mixed = out.index_select(0, rows).mul_(lam.view(shape))
    out.index_copy_(0, rows, mixed.add_(partner.mul_((1 - lam).view(shape))))


def _finish_targets(raw: dict, size: int, num_classes: int, smoothing: float, device: torch.device) -> torch.Tensor:
    """Soft targets: ε/C everywhere, 1-ε at an unmixed clip's classes, λ- and (1-λ)-weighted adds for mixed ones."""
    dtype = torch.float32 if device.type == "mps" else torch.float64
    out = torch.full((size, num_classes), smoothing / num_classes, dtype=dtype, device=device)
    rows, classes = raw["set_rows"].to(device), raw["set_classes"].to(device)
    out.index_put_((rows, classes), torch.full((len(rows),), 1.0 - smoothing, dtype=dtype, device=device))
    rows, classes = raw["add_rows"].to(device), raw["add_classes"].to(device)
    out.index_put_((rows, classes), (raw["add_weights"].to(device, dtype) * (1.0 - smoothing)), accumulate=True)
    return out.to(torch.float32)
