"""The feature-model trainer of the three architectures, single-process or DDP under ``torchrun``.

``train(config)`` writes the outputs every trainer writes (see :mod:`uavm.train.shell`)
into ``config.out_dir``; here ``results.csv`` is the reference's per-epoch table
(acc_a, mAP_a, mAUC_a, acc_v, mAP_v, mAUC_v, acc_av, mAP_av, mAUC_av, lr; fractions)
on the test split, or on the validation split when there is no test split, with
``results_val.csv`` on the validation split when both exist; the model files are
readable by ``uavm.load_model``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from ..data.dataset import FeatureDataset, TrainBatches, open_dataset, plan_epoch, split_validation
from ..data.labels import LabelSet, labels_to_info, load_labels
from ..data.sampling import balanced_weights
from ..data.transforms import AugmentConfig
from ..errors import ConfigError
from ..modality import NAMES, VIEW_NAMES, VIEWS
from ..models.factory import build_model
from ..progress import progress_bar
from .config import TrainConfig
from .distributed import init_distributed
from .evaluate import RESULT_COLUMNS, evaluate, result_row, summary
from .schedule import LinearWarmup, build_optimizer, build_scheduler
from .shell import CHECKPOINT, TrainerShell, TrainingDiverged, TrainResult, csv_table, run_training

__all__ = ["CHECKPOINT", "TrainResult", "TrainingDiverged", "train", "training_step"]

log = logging.getLogger("uavm.train")


@dataclass
class Splits:
    """The datasets of a run."""

    labels: LabelSet
    train: FeatureDataset
    val: FeatureDataset | None
    test: FeatureDataset | None


def load_splits(config: TrainConfig) -> Splits:
    """Open train / validation / test as the config says (validation held out of train if asked)."""
    labels = load_labels(config.labels)
    seq_len = int(config.model.get("seq_len") or 30)
    train = open_dataset(config.train, labels, seq_len)
    val = open_dataset(config.val, labels, seq_len) if config.val else None
    if val is None and config.val_fraction:
        train, val = split_validation(train, config.val_fraction, config.seed)
    test = open_dataset(config.test, labels, seq_len) if config.test else None
    return Splits(labels, train, val, test)


def model_config_for(config: TrainConfig, splits: Splits):
    """The model's config: recipe sizes, with classes / input widths / length read off the data."""
    data_sizes = {
        "num_classes": len(splits.labels),
        "a_input_dim": splits.train.dim("a"),
        "v_input_dim": splits.train.dim("v"),
        "seq_len": splits.train.seq_len,
    }
    model_config = config.model_config(**data_sizes)
    for key, value in data_sizes.items():
        if getattr(model_config, key) != value:
            raise ConfigError(f"model.{key}={getattr(model_config, key)} does not match the data ({value})")
    return model_config


def check_trained_modalities(config: TrainConfig, train: FeatureDataset) -> None:
    """A one-line :class:`ConfigError` when the run would train on a modality no training clip has
    (a store reads it as zeros: the model would learn from nothing and its fused scores would be diluted)."""
    arch = config.model_config(num_classes=1).arch
    if arch == "cross_attention":
        used = dict.fromkeys("av", "a cross_attention model sees both")
    else:  # unified / independent: a step trains audio with probability a_tr_prob, else visual
        shares = {"a": config.a_tr_prob, "v": 1 - config.a_tr_prob}
        used = {m: f"a_tr_prob={config.a_tr_prob:g}" for m, share in shares.items() if share > 0}
    for m, why in used.items():
        if not train.has_modality(m):
            other = "1" if m == "v" else "0"
            raise ConfigError(
                f"{train.name}: no training clip has {NAMES[m]} features, but {why}; a model of one modality "
                f"trains with a_tr_prob={other} (unified / independent)"
            )


def model_info_for(config: TrainConfig, labels: LabelSet) -> dict[str, Any]:
    """What a user of a trained model needs beside its weights (see :func:`uavm.models.read_model_info`):
    the label set, the loss (softmax or sigmoid scores), ``feat_norm`` and, when training read a feature
    store, how its features were made (encoders, fbank settings, frame rate, frame size)."""
    from ..store.records import stored_feature_settings

    info: dict[str, Any] = {**labels_to_info(labels), "loss": config.loss, "feat_norm": config.feat_norm}
    info.update(stored_feature_settings(config.train))
    return info


def train(config: TrainConfig, *, resume: bool = False) -> TrainResult:
    """Train ``config``'s model; under ``torchrun`` every rank calls this. Returns the outputs (on every rank)."""
    config.validate()
    info = init_distributed(config.device)
    return run_training(FeatureTrainer, config, info, resume=resume)


class FeatureTrainer(TrainerShell):
    """The shell's run of a feature model: feature-store data, the UAVM model, three-view evaluation."""

    config: TrainConfig

    def build(self, resuming: bool) -> None:
        config, info = self.config, self.info
        if config.batch_size % info.world_size:
            raise ConfigError(f"batch_size {config.batch_size} is not divisible by {info.world_size} processes")
        self.splits = load_splits(config)
        check_trained_modalities(config, self.splits.train)
        self.model_config = model_config_for(config, self.splits)
        self.model_info = model_info_for(config, self.splits.labels)
        torch.manual_seed(config.seed)
        self.model = build_model(self.model_config).to(info.device)
        self.optimizer = build_optimizer(self.model.parameters(), config.lr)
        self.scheduler = build_scheduler(
            self.optimizer,
            config.scheduler,
            start=config.lr_start,
            step=config.lr_step,
            decay=config.lr_decay,
            patience=config.plateau_patience,
        )
        self.steps_per_epoch = len(self.splits.train) // config.batch_size
        self.warmup = LinearWarmup(self.optimizer, config.warmup_steps) if config.warmup_steps else None
        if self.warmup is not None and config.scheduler == "multistep":
            self.warmup.check_fits(config.lr_start * self.steps_per_epoch if config.lr_start else 0)
        self.weights = (
            balanced_weights(self.splits.train.label_indices, len(self.splits.labels)) if config.balanced else None
        )
        self.augment = AugmentConfig(
            mixup=config.mixup, label_smoothing=config.label_smoothing, noise=config.noise, feat_norm=config.feat_norm
        )
        self.batches = TrainBatches(
            self.splits.train,
            self.augment,
            rank=info.rank,
            world_size=info.world_size,
            roll_on_device=info.device.type != "cpu",
        )
        self.forward_model = self._wrap(self.model)
        if info.is_main:
            n_params = sum(p.numel() for p in self.model.parameters())
            log.info(
                "model %s, %.3f M parameters; %d training clips, %d steps/epoch of %d on %d process(es), %s",
                self.model_config.arch,
                n_params / 1e6,
                len(self.splits.train),
                self.steps_per_epoch,
                config.batch_size,
                info.world_size,
                info.device,
            )

    def _wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        if self.info.distributed:
            device_ids = [self.info.device.index] if self.info.device.type == "cuda" else None
            model = torch.nn.parallel.DistributedDataParallel(
                model,
                device_ids=device_ids,
                # unified / independent use one modality's branch per step
                find_unused_parameters=self.model_config.arch != "cross_attention",
            )
        if self.config.compile:
            model = torch.compile(model)
        return model

    def has_split(self, split: str) -> bool:
        return getattr(self.splits, split) is not None

    def train_epoch(self, epoch: int) -> float:
        config, info = self.config, self.info
        self.batches.plan = plan_epoch(
            len(self.splits.train),
            batch_size=config.batch_size,
            epoch=epoch,
            seed=config.seed,
            augment=self.augment,
            weights=self.weights,
            a_tr_prob=config.a_tr_prob,
            both_modalities=self.model_config.arch == "cross_attention",
        )
        loader = torch.utils.data.DataLoader(
            self.batches,
            batch_size=None,
            shuffle=False,
            num_workers=config.num_workers,
            pin_memory=info.device.type == "cuda",
            prefetch_factor=4 if config.num_workers else None,
        )
        self.forward_model.train()
        check_every = 1 if info.device.type == "cpu" else 25
        loss_sum = torch.zeros((), device=info.device, dtype=torch.float64)
        bar = progress_bar(loader, desc=f"epoch {epoch}", enabled=config.progress and info.is_main, summary=False)
        for step, raw in enumerate(bar):
            batch = self.batches.finish(raw, info.device)  # feat_norm, mixup, targets: batched, on the device
            if self.warmup is not None:
                self.warmup.step(self.global_step)
            loss = training_step(
                self.forward_model,
                self.optimizer,
                batch,
                loss=config.loss,
                device=info.device,
                bf16=self.bf16,
                set_to_none=config.zero_grad_set_to_none,
            )
            loss_sum += loss.detach()
            self.global_step += 1
            if (step + 1) % check_every == 0 or step + 1 == len(loader):
                mean = self._all_ranks_loss(loss_sum, epoch, step)
                bar.set_postfix(loss=f"{mean / (step + 1):.4f}", refresh=False)
        return self._all_ranks_loss(loss_sum, epoch, len(loader) - 1) / max(1, len(loader))

    def _all_ranks_loss(self, loss_sum: torch.Tensor, epoch: int, step: int) -> float:
        total = loss_sum.detach().clone()
        if self.info.distributed:
            dist.all_reduce(total)
            total /= self.info.world_size
        loss = float(total)
        if not math.isfinite(loss):  # bad data, not the learning rate, when a clip read so far is not finite
            plan, read = self.batches.plan, (step + 1) * self.config.batch_size
            partners = plan.aug.partner[:read]
            bad = self.splits.train.first_nonfinite(np.concatenate([plan.indices[:read], partners[partners >= 0]]))
            if bad is not None:
                raise TrainingDiverged(
                    f"{self.splits.train.nonfinite_error(*bad)} (the training loss became {loss} in epoch "
                    f"{epoch} by step {step + 1})"
                )
        return self.check_finite(loss, epoch, step)

    def evaluate_split(self, split: str, epoch: int) -> dict[str, Any]:
        return summary(
            evaluate(
                self.model,
                getattr(self.splits, split),
                batch_size=self.config.eval_batch_size,
                feat_norm=self.config.feat_norm,
                num_workers=self.config.num_workers,
                bf16=self.bf16,
                dist_info=self.info,
                progress=self.config.progress,
                desc=f"{split} {epoch}",
            )
        )

    def main_score(self, scores: dict[str, Any]) -> float:
        return float(scores["av"][self.config.main_metric])

    def scores(self, scores: dict[str, Any]) -> dict[str, float]:
        return {name: scores[view][self.config.main_metric] for view, name in zip(VIEWS, VIEW_NAMES)}

    def save_weights(self, path: Path) -> Path:
        from ..models.checkpoint import save_model

        save_model(self.model, path, self.model_info)
        return path

    def tables(self) -> dict[str, str]:
        split = "test" if self.splits.test is not None else ("val" if self.splits.val is not None else None)
        if split is None:
            return {}
        tables = {"results.csv": results_table(self.history, split)}
        if split == "test" and self.splits.val is not None:
            tables["results_val.csv"] = results_table(self.history, "val")
        return tables

    def finish(self, result: TrainResult) -> None:
        if self.info.distributed:
            dist.barrier()


def training_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: dict,
    *,
    loss: str = "ce",
    device: torch.device = torch.device("cpu"),
    bf16: bool = False,
    set_to_none: bool = False,
) -> torch.Tensor:
    """One optimiser step on a :class:`~uavm.data.dataset.TrainBatches` batch; returns the loss.

    ``batch["modality"]`` is ``"a"``/``"v"`` (one branch: ``model(x, modality)``) or ``"av"``
    (``model(a, v)``). ``set_to_none=False`` zeroes gradients like torch 1.11 did, so Adam
    keeps moving the branch a batch did not use (the reference's behaviour).
    """
    modality = batch["modality"]
    targets = batch["targets"].to(device, non_blocking=True)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        if modality == "av":
            logits = model(batch["a"].to(device, non_blocking=True), batch["v"].to(device, non_blocking=True))
        else:
            logits = model(batch[modality].to(device, non_blocking=True), modality)
    logits = logits.float()
    if loss == "ce":
        value = F.cross_entropy(logits, targets)
    else:
        value = F.binary_cross_entropy_with_logits(logits, targets)
    optimizer.zero_grad(set_to_none=set_to_none)
    value.backward()
    optimizer.step()
    return value


def results_table(history: list[dict[str, Any]], split: str) -> str:
    """The reference's result table as CSV text (a header line, one row per epoch)."""
    return csv_table(RESULT_COLUMNS + ["lr"], [{**result_row(row[split]), "lr": float(row["lr"])} for row in history])
