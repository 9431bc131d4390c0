"""Training the ConvNeXt audio encoder on raw media (SPEC §5), the step before feature extraction.

The reference recipe with SPEC §8's defects 1–3 fixed: a linear warm-up that
starts above zero and reaches the full lr; validation loss on logits;
SpecAugment after normalisation (masked cells are 0, not +1.13). Per clip, in
the reference's order: waveform minus its mean, waveform mixup with a uniform
partner (λ ~ Beta(10, 10), the partner padded / cut to the clip, the mix
re-centred), fbank, pad / cut to ``target_frames``, normalisation, then
SpecAugment, noise (``+ U[0,1)·U[0,0.1)``) and a random time roll in [-10, 9].
Waveforms are decoded in DataLoader workers; fbank and the augmentations run
on the training device in batches. Every random draw is a function of
``(seed, epoch, step)``, so a resumed run repeats the epoch it restarts.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import torch.utils.data
from tqdm.auto import tqdm

from ..atomic import atomic_path, write_json_atomic, write_text_atomic
from ..data.datafile import read_datafile, resolve_entry_path
from ..data.labels import LabelSet, load_labels
from ..data.sampling import balanced_weights, draw_epoch, epoch_rng
from ..data.transforms import AugmentConfig, draw_augmentation, make_targets
from ..errors import ConfigError, UAVMError
from ..features.audio_encoder import AudioEncoder
from ..media.audio_io import load_audio
from ..features.fbank import FBANK_STATS, normalized_fbank, samples_for_frames
from .checkpointing import load_checkpoint, save_checkpoint
from .config import DATASET_DEFAULTS, apply_overrides, load_recipe
from .metrics import classification_metrics
from .schedule import LinearWarmup, build_optimizer, build_scheduler, current_lr, step_scheduler

NOISE_SHIFT = (-10, 10)  # numpy randint bounds: rolls of -10..9 frames
CHECKPOINT = "checkpoint.pt"


@dataclass
class AudioEncoderConfig:
    """Everything an audio-encoder training run depends on; defaults are the VGGSound recipe of SPEC §5."""

    train: str = ""  # reference datafile: {"data": [{"wav": path, "labels": "mid1,mid2"}]}
    val: str | None = None  # validation datafile; else val_fraction of train is held out
    test: str | None = None  # evaluated and reported every epoch; selects the best only with select_on=test
    val_fraction: float = 0.0
    select_on: str = "val"  # "val" | "test" (the reference's practice, labelled as such)
    dataset: str = "vggsound"  # sets the fbank statistics: a key of FBANK_STATS
    labels: str | None = None  # "vggsound" | "audioset" | label CSV path; default: the dataset's
    norm_mean: float | None = None  # default: FBANK_STATS[dataset]
    norm_std: float | None = None
    out_dir: str = "runs/audio_encoder"
    size: str = "base"
    init: str = "imagenet"  # "imagenet" | "random" | an audio-encoder checkpoint (path, URL, registry name)
    loss: str = "ce"  # "ce" (soft-target cross-entropy) | "bce"
    main_metric: str = "acc"  # "acc" | "mAP"
    lr: float = 1e-4
    batch_size: int = 120
    epochs: int = 25
    scheduler: str = "multistep"  # "multistep" | "plateau"
    lr_start: int = 15
    lr_step: int = 1
    lr_decay: float = 0.5
    plateau_patience: int = 2
    warmup_samples: int = 1000  # linear warm-up over the steps that see this many clips
    balanced: bool = True
    mixup: float = 0.5
    label_smoothing: float = 0.1
    noise: bool = True
    freq_mask: int = 48  # SpecAugment: one frequency mask narrower than this many bins
    time_mask: int = 192  # and one time mask narrower than this many frames
    target_frames: int = 1000
    sample_rate: int = 16000
    weight_averaging: bool = False  # average the weights of epochs wa_start..wa_end (inclusive)
    wa_start: int = 16
    wa_end: int = 30
    keep_epoch_weights: bool = False  # also write epoch_N.safetensors after every epoch
    seed: int = 0
    num_workers: int = 4
    eval_batch_size: int = 64
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N"
    bf16: bool | None = None  # autocast to bfloat16; None: on with CUDA, off on CPU
    progress: bool = True

    @property
    def stats(self) -> tuple[float, float]:
        """(mean, std) of the fbank normalisation."""
        mean, std = FBANK_STATS[self.dataset]
        return (mean if self.norm_mean is None else self.norm_mean, std if self.norm_std is None else self.norm_std)

    def validate(self) -> AudioEncoderConfig:
        """Check values; raise :class:`ConfigError` naming the first bad one."""
        if not self.train:
            raise ConfigError("no training data: set train=<datafile.json with wav entries>")
        choices = {"dataset": tuple(FBANK_STATS), "loss": ("ce", "bce"), "main_metric": ("acc", "mAP"),
                   "select_on": ("val", "test"), "scheduler": ("multistep", "plateau"),
                   "size": ("tiny", "small", "base", "large")}
        for name, options in choices.items():
            if getattr(self, name) not in options:
                raise ConfigError(f"{name} must be one of {', '.join(options)}; got {getattr(self, name)!r}")
        for name in ("lr", "batch_size", "epochs", "eval_batch_size", "target_frames", "sample_rate"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("mixup", "label_smoothing"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0 <= self.val_fraction < 1:
            raise ConfigError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.select_on == "test" and not self.test:
            raise ConfigError("select_on=test needs a test split (test=...)")
        if self.select_on == "val" and self.test and not (self.val or self.val_fraction):
            raise ConfigError("no validation split to choose the best epoch: set val=..., or val_fraction=0.05, "
                              "or select_on=test (the reference's practice, reported as such)")
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
    for key, value in DATASET_DEFAULTS.get(values.get("dataset", "vggsound"), {}).items():
        values.setdefault(key, value)  # audioset: BCE and mAP unless the recipe says otherwise
    fields = {f.name: f for f in dataclasses.fields(AudioEncoderConfig)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"unknown audio-encoder setting(s): {', '.join(unknown)}")
    for name, value in list(values.items()):
        kind = str(fields[name].type).split(" | ")[0]
        if value is None or kind not in ("int", "float", "bool"):
            continue
        if kind == "bool" and not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {value!r}")
        if kind != "bool":
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ConfigError(f"{name} must be a number, got {value!r}") from None
            if kind == "int" and number != int(number):
                raise ConfigError(f"{name} must be a whole number, got {value!r}")
            values[name] = int(number) if kind == "int" else number
    return AudioEncoderConfig(**values).validate()


# ----------------------------------------------------------------------- data


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
            raise UAVMError(f"{datafile} entry {i}: no \"wav\" media path")
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

    def __init__(self, clips: list[Clip], num_classes: int, target_frames: int, sample_rate: int,
                 label_smoothing: float = 0.0):
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
                other = self._centred(partner)
                if len(other) < len(waveform):
                    other = F.pad(other, (0, len(waveform) - len(other)))
                mixed = lam * waveform + (1 - lam) * other[: len(waveform)]
                waveform = mixed - mixed.mean()
            except UAVMError as exc:
                problem = (str(self.clips[partner].path), str(exc))
                partner = -1
        partner_labels = [self.clips[partner].labels if partner >= 0 else None]
        target = make_targets([clip.labels], self.num_classes, self.label_smoothing, partner_labels,
                              np.array([lam]))[0]
        return {"waveform": waveform[: self.max_samples].float(), "target": target, "problem": problem}


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
    return {"waveforms": batch, "lengths": lengths, "targets": torch.stack([it["target"] for it in good]),
            "kept": torch.tensor(kept), "problems": problems}


def split_holdout(clips: list[Clip], fraction: float, seed: int) -> tuple[list[Clip], list[Clip]]:
    """Hold out a seeded random ``fraction`` of the clips: ``(train, validation)``."""
    order = np.random.default_rng([seed, 0xA0D]).permutation(len(clips))
    n_val = max(1, int(round(fraction * len(clips))))
    if n_val >= len(clips):
        raise ConfigError(f"val_fraction {fraction} leaves no training clips out of {len(clips)}")
    held = set(order[:n_val].tolist())
    return [c for i, c in enumerate(clips) if i not in held], [c for i, c in enumerate(clips) if i in held]


# --------------------------------------------------------------- augmentation


def spec_augment(x: torch.Tensor, freq_mask: int, time_mask: int, generator: torch.Generator) -> torch.Tensor:
    """One frequency and one time mask per clip of ``[B, frames, bins]``, set to 0 (torchaudio's draw)."""
    batch, frames, bins = x.shape
    keep = torch.ones_like(x, dtype=torch.bool)
    for axis, size, param in ((2, bins, freq_mask), (1, frames, time_mask)):
        if param <= 0:
            continue
        u = torch.rand(batch, 2, generator=generator, device=generator.device).to(x.device)
        width = u[:, 0] * param
        start = (u[:, 1] * (size - width)).floor()
        end = start + width.floor()
        position = torch.arange(size, device=x.device).view(1, size)
        inside = (position >= start.view(batch, 1)) & (position < end.view(batch, 1))
        keep &= ~(inside.view(batch, 1, size) if axis == 2 else inside.view(batch, size, 1))
    return x * keep


def add_noise_and_roll(x: torch.Tensor, generator: torch.Generator, shifts: torch.Tensor) -> torch.Tensor:
    """``x + U[0,1)·s`` with ``s ~ U[0, 0.1)`` per clip, then a per-clip circular roll along time."""
    batch, frames, _ = x.shape
    scale = torch.rand(batch, generator=generator, device=generator.device).to(x.device) / 10
    noise = torch.rand(x.shape, generator=generator, device=generator.device, dtype=x.dtype).to(x.device)
    x = x + noise * scale.view(batch, 1, 1)
    source = (torch.arange(frames, device=x.device).view(1, frames) - shifts.to(x.device).view(batch, 1)) % frames
    return torch.gather(x, 1, source.unsqueeze(-1).expand_as(x))


# -------------------------------------------------------------------- running


@dataclass
class AudioEncoderResult:
    """What a finished run reports."""

    out_dir: Path
    history: list[dict[str, Any]]
    best_epoch: int | None
    best_path: Path | None
    final_path: Path
    averaged_path: Path | None = None
    averaged: dict[str, Any] | None = None
    skipped: list[dict[str, str]] = dataclasses.field(default_factory=list)


def train_audio_encoder(config: AudioEncoderConfig, *, resume: bool = False) -> AudioEncoderResult:
    """Train an :class:`AudioEncoder` as ``config`` says; ``resume`` continues from ``out_dir``'s checkpoint."""
    return _Run(config.validate(), resume).run()


def resolve_device(name: str) -> torch.device:
    """``"auto"`` → CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device {name!r} is not a torch device (auto, cpu, cuda, cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda requested but CUDA is not available")
    return device


class _Run:
    """State of one training run (kept on an object so resume and the epoch loop share it)."""

    def __init__(self, config: AudioEncoderConfig, resume: bool):
        self.config = config
        self.out = Path(config.out_dir)
        self.resume = resume
        self.device = resolve_device(config.device)
        self.bf16 = config.bf16 if config.bf16 is not None else self.device.type == "cuda"
        self.labels = load_labels(config.labels or config.dataset)
        self.mean, self.std = config.stats

        train = read_clips(config.train, self.labels)
        self.val = read_clips(config.val, self.labels) if config.val else None
        if self.val is None and config.val_fraction:
            train, self.val = split_holdout(train, config.val_fraction, config.seed)
        self.test = read_clips(config.test, self.labels) if config.test else None
        self.train = train
        if len(train) < config.batch_size:
            raise ConfigError(f"batch_size {config.batch_size} exceeds the {len(train)} training clips")
        self.steps_per_epoch = len(train) // config.batch_size
        self.weights = balanced_weights([c.labels for c in train], len(self.labels)) if config.balanced else None
        self.skipped: dict[str, str] = {}

    # ---- setup

    def _initial_model(self) -> AudioEncoder:
        c = self.config
        dataset = c.dataset if c.stats == FBANK_STATS[c.dataset] else None
        if self.resume:  # the checkpoint replaces the weights: no download, no conversion
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

    def _loader(self, dataset: WaveformClips, batch_size: int) -> torch.utils.data.DataLoader:
        workers = self.config.num_workers
        return torch.utils.data.DataLoader(
            dataset, batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=collate_waveforms,
            pin_memory=self.device.type == "cuda", persistent_workers=False,
            prefetch_factor=4 if workers else None,
        )

    def _autocast(self) -> contextlib.AbstractContextManager:
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def _features(self, batch: dict[str, Any]) -> torch.Tensor:
        waveforms = batch["waveforms"].to(self.device, non_blocking=True)
        return normalized_fbank(waveforms, self.config.target_frames, self.mean, self.std,
                                self.config.sample_rate, lengths=batch["lengths"], remove_mean=False)

    def _record(self, problems: list[tuple[str, str]]) -> None:
        for path, problem in problems:
            if path not in self.skipped:
                self.skipped[path] = problem
                tqdm.write(f"skipping {problem}", file=sys.stderr)

    # ---- main loop

    def run(self) -> AudioEncoderResult:
        c = self.config
        self.out.mkdir(parents=True, exist_ok=True)
        checkpoint = self.out / CHECKPOINT
        if self.resume and not checkpoint.exists():
            raise UAVMError(f"{checkpoint}: nothing to resume (no checkpoint in {self.out})")
        model = self._initial_model().to(self.device)
        optimizer = build_optimizer(model.parameters(), c.lr)
        scheduler = build_scheduler(optimizer, c.scheduler, start=c.lr_start, step=c.lr_step, decay=c.lr_decay,
                                    patience=c.plateau_patience)
        warmup = LinearWarmup(optimizer, math.ceil(c.warmup_samples / c.batch_size))
        if c.scheduler == "multistep":
            warmup.check_fits(max(c.lr_start, 1) * self.steps_per_epoch)
        state: dict[str, Any] = {"epoch": 0, "global_step": 0, "history": [], "best_epoch": None,
                                 "best_score": None, "wa_count": 0}
        wa_sum: dict[str, torch.Tensor] | None = None
        if self.resume:
            saved = load_checkpoint(checkpoint, model=model, optimizer=optimizer, scheduler=scheduler)
            extra = saved["extra"]
            state = {**state, **extra["state"], "epoch": saved["epoch"]}
            warmup.load_state_dict(extra["warmup"])
            wa_sum = extra.get("wa_sum")
            self.skipped = dict(extra.get("skipped", {}))
        write_json_atomic(self.out / "config.json", dataclasses.asdict(c))

        for epoch in range(state["epoch"] + 1, c.epochs + 1):
            train_loss = self._train_epoch(model, optimizer, warmup, epoch, state)
            row: dict[str, Any] = {"epoch": epoch, "train_loss": train_loss, "lr": current_lr(optimizer)}
            for split, clips in (("val", self.val), ("test", self.test)):
                if clips is not None:
                    row[split] = self._evaluate(model, clips, split, epoch)
            state["history"].append(row)

            select = "test" if c.select_on == "test" else "val"
            score = row[select][c.main_metric] if select in row else None
            if score is not None and (state["best_score"] is None or score > state["best_score"]):
                state["best_score"], state["best_epoch"] = score, epoch
                model.save(self.out / "best.safetensors")
            if c.keep_epoch_weights:
                model.save(self.out / f"epoch_{epoch}.safetensors")
            if c.weight_averaging and c.wa_start <= epoch <= c.wa_end:
                wa_sum = _accumulate(wa_sum, model)
                state["wa_count"] += 1

            step_scheduler(scheduler, score if score is not None else 0.0)
            save_checkpoint(checkpoint, model=model, optimizer=optimizer, scheduler=scheduler, epoch=epoch,
                            extra={"state": state, "warmup": warmup.state_dict(), "wa_sum": wa_sum,
                                   "skipped": self.skipped})
            self._write_results(state)

        final = model.save(self.out / "final.safetensors")
        result = AudioEncoderResult(self.out, state["history"], state["best_epoch"],
                                    self.out / "best.safetensors" if state["best_epoch"] else None, final,
                                    skipped=[{"path": p, "problem": m} for p, m in self.skipped.items()])
        if wa_sum is not None and state["wa_count"]:
            result.averaged_path, result.averaged = self._finish_averaging(model, wa_sum, state["wa_count"])
        self._write_results(state, averaged=result.averaged)
        return result

    def _train_epoch(self, model: AudioEncoder, optimizer: torch.optim.Optimizer, warmup: LinearWarmup,
                     epoch: int, state: dict[str, Any]) -> float:
        c = self.config
        model.train()
        rng = epoch_rng(c.seed, epoch)
        order = draw_epoch(len(self.train), len(self.train), self.weights, rng)
        draws = draw_augmentation(len(order), len(self.train), AugmentConfig(mixup=c.mixup), rng)
        shifts = rng.integers(*NOISE_SHIFT, size=len(order)) if c.noise else np.zeros(len(order), dtype=np.int64)
        dataset = WaveformClips(self.train, len(self.labels), c.target_frames, c.sample_rate, c.label_smoothing)
        dataset.plan = [(int(i), int(p), float(lam)) for i, p, lam in zip(order, draws.partner, draws.lam)]
        dataset.plan = dataset.plan[: self.steps_per_epoch * c.batch_size]  # drop_last, as the reference
        generator = torch.Generator(device=self.device)
        losses = []
        bar = tqdm(self._loader(dataset, c.batch_size), total=self.steps_per_epoch, desc=f"epoch {epoch}",
                   disable=not c.progress, leave=False)
        for step, batch in enumerate(bar):
            self._record(batch["problems"])
            if batch["waveforms"] is None:
                continue
            generator.manual_seed(int(np.random.SeedSequence([c.seed, epoch, step]).generate_state(1)[0]))
            x = self._features(batch)
            x = spec_augment(x, c.freq_mask, c.time_mask, generator)
            if c.noise:
                planned = torch.from_numpy(shifts[step * c.batch_size: (step + 1) * c.batch_size])
                x = add_noise_and_roll(x, generator, planned[batch["kept"]])
            targets = batch["targets"].to(self.device, non_blocking=True)
            warmup.step(state["global_step"])
            with self._autocast():
                logits = model(x)
            loss = _loss(logits.float(), targets, c.loss)
            if not torch.isfinite(loss):
                raise UAVMError(f"training diverged at epoch {epoch}, step {step} (loss {loss.item()})")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            state["global_step"] += 1
            losses.append(loss.item())
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}", lr=f"{current_lr(optimizer):.2e}")
        return float(np.mean(losses)) if losses else float("nan")

    @torch.no_grad()
    def _evaluate(self, model: AudioEncoder, clips: list[Clip], split: str, epoch: int | str) -> dict[str, float]:
        """acc / mAP / mAUC / d′ of the reference's sigmoid scores, and the loss on the logits (defect 2 fixed)."""
        c = self.config
        model.eval()
        dataset = WaveformClips(clips, len(self.labels), c.target_frames, c.sample_rate)
        scores, targets, loss_sum = [], [], 0.0
        for batch in tqdm(self._loader(dataset, c.eval_batch_size), desc=f"{split} {epoch}",
                          disable=not c.progress, leave=False):
            self._record(batch["problems"])
            if batch["waveforms"] is None:
                continue
            with self._autocast():
                logits = model(self._features(batch)).float()
            target = batch["targets"].to(logits.device)
            loss_sum += _loss(logits, target, c.loss).item() * len(target)
            scores.append(torch.sigmoid(logits).cpu().numpy())
            targets.append(batch["targets"].numpy())
        if not scores:
            raise UAVMError(f"no clip of the {split} split could be decoded")
        scores_all, targets_all = np.concatenate(scores), np.concatenate(targets)
        return {**classification_metrics(scores_all, targets_all), "loss": loss_sum / len(scores_all)}

    def _finish_averaging(self, model: AudioEncoder, wa_sum: dict[str, torch.Tensor],
                          count: int) -> tuple[Path, dict[str, Any]]:
        averaged = {k: (v / count).to(model.state_dict()[k].dtype) for k, v in wa_sum.items()}
        model.load_state_dict(averaged)
        path = model.save(self.out / "averaged.safetensors")
        report: dict[str, Any] = {"epochs": [self.config.wa_start, min(self.config.wa_end, self.config.epochs)]}
        for split, clips in (("val", self.val), ("test", self.test)):
            if clips is not None:
                report[split] = self._evaluate(model, clips, split, "averaged")
        return path, report

    def _write_results(self, state: dict[str, Any], averaged: dict[str, Any] | None = None) -> None:
        history = state["history"]
        write_json_atomic(self.out / "results.json", {
            "history": history, "best_epoch": state["best_epoch"], "selected_on": self.config.select_on,
            "main_metric": self.config.main_metric, "averaged": averaged,
        })
        write_text_atomic(self.out / "results.csv", results_csv(history))
        write_json_atomic(self.out / "skipped_clips.json",
                          [{"path": p, "problem": m} for p, m in self.skipped.items()])
        plot_history(history, self.out / "results.png", self.config.main_metric)


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
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(RESULT_COLUMNS)
    for row in history:
        flat = {"epoch": row["epoch"], "train_loss": row["train_loss"], "lr": row["lr"]}
        for split in ("val", "test"):
            for m, v in row.get(split, {}).items():
                flat[f"{split}_{m}"] = v
        writer.writerow([flat.get(col, "") for col in RESULT_COLUMNS])
    return buffer.getvalue()


def plot_history(history: list[dict[str, Any]], path: Path, metric: str) -> None:
    """Training loss and the main metric per epoch (skipped without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    epochs = [r["epoch"] for r in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    left.plot(epochs, [r["train_loss"] for r in history], marker="o", label="train")
    for split in ("val", "test"):
        if history and split in history[0]:
            left.plot(epochs, [r[split]["loss"] for r in history], marker="o", label=split)
            right.plot(epochs, [r[split][metric] for r in history], marker="o", label=split)
    left.set(xlabel="epoch", ylabel="loss")
    right.set(xlabel="epoch", ylabel=metric)
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)

