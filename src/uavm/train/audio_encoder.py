"""Training the ConvNeXt audio encoder on raw media, the step before feature extraction.

The reference recipe with three of its defects fixed: a linear warm-up that
starts above zero and reaches the full lr; validation loss on logits;
SpecAugment after normalisation (masked cells are 0, not +1.13). Per clip, in
the reference's order: waveform minus its mean, waveform mixup with a uniform
partner (λ ~ Beta(10, 10); :mod:`uavm.data.waveforms`), fbank, pad / cut to
``target_frames``, normalisation, then SpecAugment, noise and a random time roll
in [-10, 9] (:mod:`uavm.data.spec_augment`). Waveforms are decoded in DataLoader
workers; fbank and the augmentations run on the training device in batches.
Every random draw is a function of ``(seed, epoch, step)``, so a resumed run
repeats the epoch it restarts. The loop, checkpoints and output files are the
trainer shell's (:mod:`uavm.train.shell`); this run also writes
``skipped_clips.json``, ``epoch_N.safetensors`` (with ``keep_epoch_weights``) and
``averaged.safetensors`` (with ``weight_averaging``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import torch.utils.data

from ..atomic import write_json_atomic
from ..data.labels import load_labels
from ..data.sampling import balanced_weights, draw_epoch, epoch_rng
from ..data.spec_augment import NOISE_SHIFT, add_noise_and_roll, spec_augment
from ..data.transforms import AugmentConfig, draw_augmentation
from ..data.waveforms import Clip, WaveformClips, collate_waveforms, read_clips, split_holdout
from ..device import resolve_device
from ..errors import ConfigError, UAVMError
from ..features.audio_encoder import AudioEncoder
from ..features.filterbank import FBANK_STATS, normalized_fbank
from ..modality import NAMES
from ..progress import progress_bar
from .config import RunSettings, apply_overrides, dataset_defaults, load_recipe, parse_settings
from .distributed import DistInfo
from .metrics import classification_metrics
from .schedule import LinearWarmup, build_optimizer, build_scheduler, current_lr
from .shell import TrainerShell, TrainResult, csv_table, run_training

log = logging.getLogger("uavm.train")
AVERAGED_MODEL = "averaged.safetensors"
SKIPPED_CLIPS = "skipped_clips.json"


@dataclass
class AudioEncoderConfig(RunSettings):
    """Everything an audio-encoder training run depends on; defaults are the reference's VGGSound recipe."""

    train: str = ""  # reference datafile: {"data": [{"wav": path, "labels": "mid1,mid2"}]}
    labels: str | None = None  # "vggsound" | "audioset" | label CSV path; default: the dataset's
    out_dir: str = "runs/audio_encoder"
    lr: float = 1e-4
    batch_size: int = 120
    epochs: int = 25
    lr_start: int = 15
    num_workers: int = 4
    eval_batch_size: int = 64
    dataset: str = "vggsound"  # sets the fbank statistics: a key of FBANK_STATS
    norm_mean: float | None = None  # default: FBANK_STATS[dataset]
    norm_std: float | None = None
    size: str = "base"
    init: str = "imagenet"  # "imagenet" | "random" | an audio-encoder checkpoint (path, URL, registry name)
    warmup_samples: int = 1000  # linear warm-up over the steps that see this many clips
    freq_mask: int = 48  # SpecAugment: one frequency mask narrower than this many bins
    time_mask: int = 192  # and one time mask narrower than this many frames
    target_frames: int = 1000
    sample_rate: int = 16000
    weight_averaging: bool = False  # average the weights of epochs wa_start..wa_end (inclusive)
    wa_start: int = 16
    wa_end: int = 30
    keep_epoch_weights: bool = False  # also write epoch_N.safetensors after every epoch

    @property
    def stats(self) -> tuple[float, float]:
        """(mean, std) of the fbank normalisation."""
        mean, std = FBANK_STATS[self.dataset]
        return (mean if self.norm_mean is None else self.norm_mean, std if self.norm_std is None else self.norm_std)

    def validate(self) -> AudioEncoderConfig:
        """Check values; raise :class:`ConfigError` naming the first bad one."""
        if not self.train:
            raise ConfigError("no training data: set train=<datafile.json with wav entries>")
        super().validate()
        for name, options in (("dataset", tuple(FBANK_STATS)), ("size", ("tiny", "small", "base", "large"))):
            if getattr(self, name) not in options:
                raise ConfigError(f"{name} must be one of {', '.join(options)}; got {getattr(self, name)!r}")
        for name in ("target_frames", "sample_rate"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.scheduler == "plateau" and not (self.val or self.val_fraction or self.test):
            raise ConfigError("scheduler=plateau needs an evaluation split (val=..., val_fraction=... or test=...)")
        if self.weight_averaging and not 1 <= self.wa_start <= self.wa_end:
            raise ConfigError(f"weight averaging needs 1 <= wa_start <= wa_end (got {self.wa_start}, {self.wa_end})")
        if min(self.freq_mask, self.time_mask, self.warmup_samples) < 0:
            raise ConfigError("freq_mask, time_mask and warmup_samples must not be negative")
        return self


def config_from_recipe(path: str | Path | None, overrides: list[str] | None = None) -> AudioEncoderConfig:
    """Recipe YAML (optional) + ``key=value`` overrides → validated :class:`AudioEncoderConfig`."""
    values = apply_overrides(load_recipe(path) if path else {}, overrides or [])
    dataset = values.get("dataset", "vggsound")
    if isinstance(dataset, str) and dataset in FBANK_STATS:  # audioset: BCE and mAP unless the recipe says otherwise
        values = dataset_defaults(values, dataset)
    return parse_settings(AudioEncoderConfig, values, what="audio-encoder setting")


def train_audio_encoder(config: AudioEncoderConfig, *, resume: bool = False) -> TrainResult:
    """Train an :class:`AudioEncoder` as ``config`` says; ``resume`` continues from ``out_dir``'s checkpoint.

    ``result.extra`` holds ``averaged`` (the averaged weights' scores), ``averaged_model`` and ``skipped``.
    """
    config.validate()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError("the audio-encoder trainer runs as one process; start it without torchrun")
    return run_training(AudioEncoderTrainer, config, DistInfo(device=resolve_device(config.device)), resume=resume)


class AudioEncoderTrainer(TrainerShell):
    """The shell's run of an audio encoder: media datafiles, on-device fbank and augmentation."""

    config: AudioEncoderConfig

    def build(self, resuming: bool) -> None:
        c = self.config
        self.labels = load_labels(c.labels or c.dataset)
        self.mean, self.std = c.stats
        train = read_clips(c.train, self.labels)
        self.val = read_clips(c.val, self.labels) if c.val else None
        if self.val is None and c.val_fraction:
            train, self.val = split_holdout(train, c.val_fraction, c.seed)
        self.test = read_clips(c.test, self.labels) if c.test else None
        self.train = train
        if len(train) < c.batch_size:
            raise ConfigError(f"batch_size {c.batch_size} exceeds the {len(train)} training clips")
        self.steps_per_epoch = len(train) // c.batch_size
        self.weights = balanced_weights([cl.labels for cl in train], len(self.labels)) if c.balanced else None
        self.skipped: dict[str, str] = {}
        self.wa_sum: dict[str, torch.Tensor] | None = None
        self.wa_count = 0
        self.averaged: dict[str, Any] | None = None
        self.model = self._initial_model(resuming).to(self.device)
        self.optimizer = build_optimizer(self.model.parameters(), c.lr)
        self.scheduler = build_scheduler(
            self.optimizer, c.scheduler, start=c.lr_start, step=c.lr_step, decay=c.lr_decay, patience=c.plateau_patience
        )
        self.warmup = LinearWarmup(self.optimizer, math.ceil(c.warmup_samples / c.batch_size))
        if c.scheduler == "multistep":
            self.warmup.check_fits(max(c.lr_start, 1) * self.steps_per_epoch)

    def _initial_model(self, resuming: bool) -> AudioEncoder:
        c = self.config
        dataset = c.dataset if c.stats == FBANK_STATS[c.dataset] else None
        if resuming:  # the checkpoint replaces the weights: no download, no conversion
            return AudioEncoder(c.size, len(self.labels), dataset)
        if c.init == "imagenet":
            return AudioEncoder.from_imagenet(c.size, len(self.labels), dataset)
        if c.init == "random":
            torch.manual_seed(c.seed)
            return AudioEncoder(c.size, len(self.labels), dataset)
        model = AudioEncoder.from_checkpoint(c.init)
        if model.num_classes != len(self.labels):
            raise ConfigError(f"init {c.init} has {model.num_classes} classes, the labels {len(self.labels)}")
        model.dataset = dataset
        return model

    # ---- what the shell asks for

    def has_split(self, split: str) -> bool:
        return self._clips(split) is not None

    def _clips(self, split: str) -> list[Clip] | None:
        return {"val": self.val, "test": self.test}[split]

    def main_score(self, scores: dict[str, Any]) -> float:
        return float(scores[self.config.main_metric])

    def scores(self, scores: dict[str, Any]) -> dict[str, float]:
        return {NAMES["a"]: scores[self.config.main_metric]}

    def save_weights(self, path: Path) -> Path:
        return self.model.save(path)

    def tables(self) -> dict[str, str]:
        return {"results.csv": results_csv(self.history)}

    def checkpoint_extra(self) -> dict[str, Any]:
        return {"wa_sum": self.wa_sum, "wa_count": self.wa_count, "skipped": self.skipped}

    def restore_extra(self, extra: dict[str, Any]) -> None:
        self.wa_sum = extra.get("wa_sum")
        self.wa_count = int(extra.get("wa_count", 0))
        self.skipped = dict(extra.get("skipped", {}))

    def end_epoch(self, epoch: int) -> None:
        c = self.config
        if c.keep_epoch_weights:
            self.model.save(self.out / f"epoch_{epoch}.safetensors")
        if c.weight_averaging and c.wa_start <= epoch <= c.wa_end:
            self.wa_sum = _accumulate(self.wa_sum, self.model)
            self.wa_count += 1

    def finish(self, result: TrainResult) -> None:
        if self.wa_sum is not None and self.wa_count:
            result.extra["averaged_model"] = self._finish_averaging()
            result.extra["averaged"] = self.averaged
            self.write_results()
        result.extra["skipped"] = self._skipped_list()

    def write_results(self, **extra: Any) -> None:
        super().write_results(averaged=self.averaged, selected_on=self.config.select_on, **extra)
        write_json_atomic(self.out / SKIPPED_CLIPS, self._skipped_list())

    def _skipped_list(self) -> list[dict[str, str]]:
        return [{"path": p, "problem": m} for p, m in self.skipped.items()]

    # ---- data and steps

    def _loader(self, dataset: WaveformClips, batch_size: int) -> torch.utils.data.DataLoader:
        workers = self.config.num_workers
        return torch.utils.data.DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=False,
            num_workers=workers,
            collate_fn=collate_waveforms,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
            prefetch_factor=4 if workers else None,
        )

    def _autocast(self) -> contextlib.AbstractContextManager:
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def _features(self, batch: dict[str, Any]) -> torch.Tensor:
        waveforms = batch["waveforms"].to(self.device, non_blocking=True)
        return normalized_fbank(
            waveforms,
            self.config.target_frames,
            self.mean,
            self.std,
            self.config.sample_rate,
            lengths=batch["lengths"],
            remove_mean=False,
        )

    def _record(self, problems: list[tuple[str, str]]) -> None:
        for path, problem in problems:
            if path not in self.skipped:
                self.skipped[path] = problem
                log.warning("skipping %s", problem)

    def train_epoch(self, epoch: int) -> float:
        c = self.config
        self.model.train()
        rng = epoch_rng(c.seed, epoch)
        order = draw_epoch(len(self.train), len(self.train), self.weights, rng)
        draws = draw_augmentation(len(order), len(self.train), AugmentConfig(mixup=c.mixup), rng)
        shifts = rng.integers(*NOISE_SHIFT, size=len(order)) if c.noise else np.zeros(len(order), dtype=np.int64)
        dataset = WaveformClips(self.train, len(self.labels), c.target_frames, c.sample_rate, c.label_smoothing)
        dataset.plan = [(int(i), int(p), float(lam)) for i, p, lam in zip(order, draws.partner, draws.lam)]
        dataset.plan = dataset.plan[: self.steps_per_epoch * c.batch_size]  # drop_last, as the reference
        generator = torch.Generator(device=self.device)
        losses = []
        bar = progress_bar(
            self._loader(dataset, c.batch_size),
            total=self.steps_per_epoch,
            desc=f"epoch {epoch}",
            enabled=c.progress,
            summary=False,
        )
        for step, batch in enumerate(bar):
            self._record(batch["problems"])
            if batch["waveforms"] is None:
                continue
            generator.manual_seed(int(np.random.SeedSequence([c.seed, epoch, step]).generate_state(1)[0]))
            x = self._features(batch)
            x = spec_augment(x, c.freq_mask, c.time_mask, generator)
            if c.noise:
                planned = torch.from_numpy(shifts[step * c.batch_size : (step + 1) * c.batch_size])
                x = add_noise_and_roll(x, generator, planned[batch["kept"]])
            targets = batch["targets"].to(self.device, non_blocking=True)
            self.warmup.step(self.global_step)
            with self._autocast():
                logits = self.model(x)
            loss = _loss(logits.float(), targets, c.loss)
            self.check_finite(loss.item(), epoch, step)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.global_step += 1
            losses.append(loss.item())
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}", lr=f"{current_lr(self.optimizer):.2e}")
        return float(np.mean(losses)) if losses else float("nan")

    def evaluate_split(self, split: str, epoch: int | str) -> dict[str, float]:
        return self._evaluate(self._clips(split), split, epoch)

    @torch.no_grad()
    def _evaluate(self, clips: list[Clip], split: str, epoch: int | str) -> dict[str, float]:
        """acc / mAP / mAUC / d′ of the reference's sigmoid scores, and the loss on the logits."""
        c = self.config
        self.model.eval()
        dataset = WaveformClips(clips, len(self.labels), c.target_frames, c.sample_rate)
        scores, targets, loss_sum = [], [], 0.0
        for batch in progress_bar(
            self._loader(dataset, c.eval_batch_size), desc=f"{split} {epoch}", enabled=c.progress, summary=False
        ):
            self._record(batch["problems"])
            if batch["waveforms"] is None:
                continue
            with self._autocast():
                logits = self.model(self._features(batch)).float()
            target = batch["targets"].to(logits.device)
            loss_sum += _loss(logits, target, c.loss).item() * len(target)
            scores.append(torch.sigmoid(logits).cpu().numpy())
            targets.append(batch["targets"].numpy())
        if not scores:
            raise UAVMError(f"no clip of the {split} split could be decoded")
        scores_all, targets_all = np.concatenate(scores), np.concatenate(targets)
        return {**classification_metrics(scores_all, targets_all), "loss": loss_sum / len(scores_all)}

    def _finish_averaging(self) -> Path:
        assert self.wa_sum is not None
        state = self.model.state_dict()
        self.model.load_state_dict({k: (v / self.wa_count).to(state[k].dtype) for k, v in self.wa_sum.items()})
        path = self.model.save(self.out / AVERAGED_MODEL)
        report: dict[str, Any] = {"epochs": [self.config.wa_start, min(self.config.wa_end, self.config.epochs)]}
        for split in ("val", "test"):
            if self.has_split(split):
                report[split] = self.evaluate_split(split, "averaged")
        self.averaged = report
        return path


def _loss(logits: torch.Tensor, targets: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "ce":
        return F.cross_entropy(logits, targets)
    return F.binary_cross_entropy_with_logits(logits, targets)


def _accumulate(total: dict[str, torch.Tensor] | None, model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Running float64 sum of the model's weights (on the CPU) for checkpoint weight averaging."""
    current = {k: v.detach().to("cpu", torch.float64) for k, v in model.state_dict().items()}
    if total is None:
        return current
    return {k: total[k] + current[k] for k in total}


RESULT_COLUMNS = ["epoch", "train_loss", "lr"] + [
    f"{split}_{m}" for split in ("val", "test") for m in ("acc", "mAP", "mAUC", "d_prime", "loss")
]


def results_csv(history: list[dict[str, Any]]) -> str:
    """One row per epoch: train loss, lr, and acc / mAP / mAUC / d′ / loss of each evaluated split."""
    rows = [
        {
            "epoch": row["epoch"],
            "train_loss": row["train_loss"],
            "lr": row["lr"],
            **{f"{split}_{m}": v for split in ("val", "test") for m, v in row.get(split, {}).items()},
        }
        for row in history
    ]
    return csv_table(RESULT_COLUMNS, rows)
