"""Waveform datasets for training on media: clips of a datafile, decoded and mixed, and their collation.

Per clip, in the reference's order: the waveform minus its mean, then (when the
epoch's plan pairs it) waveform mixup with a partner clip: ``λ·x + (1-λ)·y`` with
the partner zero-padded or cut to the clip's length, the mix re-centred. Targets
are the mixed, label-smoothed class vectors. Decoding runs in DataLoader workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import torch.utils.data

from ..errors import ConfigError, UAVMError
from ..features.filterbank import samples_for_frames
from ..media.audio_io import load_audio
from .datafile import read_datafile, resolve_entry_path
from .labels import LabelSet
from .transforms import make_targets


@dataclass(frozen=True)
class Clip:
    """One media file of a datafile and its class indices."""

    path: Path
    labels: tuple[int, ...]


def read_clips(datafile: str | Path, labels: LabelSet) -> list[Clip]:
    """The ``wav`` clips of a reference datafile (paths resolved beside it when relative)."""
    clips = []
    for i, entry in enumerate(read_datafile(datafile)):
        if not entry.wav:
            raise UAVMError(f'{datafile} entry {i}: no "wav" media path')
        where = f"{datafile} entry {i}"
        try:
            indices = tuple(labels.indices(entry.labels))
        except UAVMError as exc:
            raise UAVMError(f"{where}: {exc}") from None
        if not indices:
            raise UAVMError(f"{where}: no labels")
        clips.append(Clip(resolve_entry_path(entry.wav, datafile), indices))
    if not clips:
        raise UAVMError(f"{datafile}: the datafile lists no clips")
    return clips


class WaveformClips(torch.utils.data.Dataset):
    """Decoded, centred waveforms cut to what ``target_frames`` frames need, with their targets.

    Item ``k`` of the current plan is clip ``plan[k]``, mixed with its partner
    where the plan says so. A clip that fails to decode yields ``None`` and its
    problem (the batch goes on without it); a failing partner leaves the clip
    unmixed.
    """

    def __init__(
        self, clips: list[Clip], num_classes: int, target_frames: int, sample_rate: int, label_smoothing: float = 0.0
    ):
        self.clips = clips
        self.num_classes = num_classes
        self.sample_rate = sample_rate
        self.max_samples = samples_for_frames(target_frames, sample_rate)
        self.label_smoothing = label_smoothing
        self.plan: list[tuple[int, int, float]] = [(i, -1, 1.0) for i in range(len(clips))]

    def __len__(self) -> int:
        return len(self.plan)

    def _centred(self, index: int) -> torch.Tensor:
        waveform = load_audio(self.clips[index].path, self.sample_rate).double()
        return waveform - waveform.mean()

    def __getitem__(self, k: int) -> dict[str, Any]:
        index, partner, lam = self.plan[k]
        clip = self.clips[index]
        try:
            waveform = self._centred(index)
        except UAVMError as exc:
            return {"waveform": None, "problem": (str(clip.path), str(exc))}
        problem = None
        if partner >= 0:
            try:
                waveform = mix_waveforms(waveform, self._centred(partner), lam)
            except UAVMError as exc:
                problem = (str(self.clips[partner].path), str(exc))
                partner = -1
        partner_labels = [self.clips[partner].labels if partner >= 0 else None]
        target = make_targets([clip.labels], self.num_classes, self.label_smoothing, partner_labels, np.array([lam]))[0]
        return {"waveform": waveform[: self.max_samples].float(), "target": target, "problem": problem}


def mix_waveforms(waveform: torch.Tensor, other: torch.Tensor, lam: float) -> torch.Tensor:
    """``lam·waveform + (1-lam)·other`` with ``other`` zero-padded / cut to ``waveform``'s length, re-centred."""
    if len(other) < len(waveform):
        other = F.pad(other, (0, len(waveform) - len(other)))
    mixed = lam * waveform + (1 - lam) * other[: len(waveform)]
    return mixed - mixed.mean()


def collate_waveforms(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Zero-pad the decoded items' waveforms into ``[B, N]`` with their lengths and positions; list the problems."""
    kept = [k for k, it in enumerate(items) if it["waveform"] is not None]
    problems = [it["problem"] for it in items if it["problem"] is not None]
    if not kept:
        return {"waveforms": None, "problems": problems}
    good = [items[k] for k in kept]
    lengths = torch.tensor([len(it["waveform"]) for it in good])
    batch = torch.zeros(len(good), int(lengths.max()))
    for row, it in enumerate(good):
        batch[row, : len(it["waveform"])] = it["waveform"]
    return {
        "waveforms": batch,
        "lengths": lengths,
        "targets": torch.stack([it["target"] for it in good]),
        "kept": torch.tensor(kept),
        "problems": problems,
    }


def split_holdout(clips: list[Clip], fraction: float, seed: int) -> tuple[list[Clip], list[Clip]]:
    """Hold out a seeded random ``fraction`` of the clips: ``(train, validation)``."""
    order = np.random.default_rng([seed, 0xA0D]).permutation(len(clips))
    n_val = max(1, int(round(fraction * len(clips))))
    if n_val >= len(clips):
        raise ConfigError(f"val_fraction {fraction} leaves no training clips out of {len(clips)}")
    held = set(order[:n_val].tolist())
    return [c for i, c in enumerate(clips) if i not in held], [c for i, c in enumerate(clips) if i in held]
