"""The trainer of the three architectures (SPEC §4–5), single-process or DDP under ``torchrun``.

``train(config)`` writes into ``config.out_dir``:

* ``results.csv`` — the reference's per-epoch table (acc_a, mAP_a, mAUC_a, acc_v, mAP_v,
  mAUC_v, acc_av, mAP_av, mAUC_av, lr; fractions) on the test split, or on the
  validation split when there is no test split; ``results_val.csv`` on the
  validation split when both exist; ``results.json`` with every metric (d′ too)
  and the training loss; ``results.png`` when matplotlib is installed;
* ``best_model.safetensors`` (chosen on the validation split by default; on the
  test split only with ``select_on=test``, recorded in ``best.json``) and
  ``last_model.safetensors``, both readable by ``uavm.load_model``;
* ``checkpoint.pt`` — model, optimiser, scheduler and RNG state after the last
  finished epoch; ``train(config, resume=True)`` continues from it and ends
  with the same results as a run never stopped (same seed, same device);
* ``config.yaml``, ``train.log``, ``timing.json``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
import yaml
from tqdm.auto import tqdm

from ..atomic import write_json_atomic, write_text_atomic
from ..data.dataset import FeatureDataset, TrainBatches, open_dataset, plan_epoch, split_validation
from ..data.labels import LabelSet, labels_to_info, load_labels
from ..data.sampling import balanced_weights
from ..data.transforms import AugmentConfig
from ..errors import ConfigError, UAVMError
from ..models.factory import build_model
from .checkpointing import load_checkpoint, save_checkpoint
from .config import TrainConfig
from .distributed import DistInfo, init_distributed
from .evaluate import MODES, RESULT_COLUMNS, evaluate, result_row, summary
from .schedule import LinearWarmup, build_optimizer, build_scheduler, current_lr, step_scheduler

log = logging.getLogger("uavm.train")

CHECKPOINT = "checkpoint.pt"
# settings that may change between a run and its resumption without changing its results
RESUMABLE_CHANGES = {"out_dir", "epochs", "num_workers", "progress", "device", "keep_checkpoints", "eval_batch_size"}


class TrainingDiverged(UAVMError):
    """The training loss became NaN or infinite."""


@dataclass
class TrainResult:
    """Where a finished run put its outputs, and its per-epoch history."""

    out_dir: Path
    best_model: Path
    last_model: Path
    best_epoch: int
    selected_on: str
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def results_csv(self) -> Path:
        return self.out_dir / "results.csv"


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


def model_info_for(config: TrainConfig, labels: LabelSet) -> dict[str, Any]:
    """What a user of a trained model needs beside its weights (see :func:`uavm.models.read_model_info`):
    the label set, the loss (softmax or sigmoid scores), ``feat_norm`` and, when training read a feature
    store, how its features were made (encoders, fbank settings, frame rate, frame size)."""
    from ..store.records import FEATURE_SETTINGS, MANIFEST, Manifest

    info: dict[str, Any] = {**labels_to_info(labels), "loss": config.loss, "feat_norm": config.feat_norm}
    store = Path(config.train)
    if (store / MANIFEST).is_file():
        metadata = Manifest.load(store).metadata
        info.update({k: metadata[k] for k in FEATURE_SETTINGS if metadata.get(k) is not None})
    return info


def train(config: TrainConfig, *, resume: bool = False) -> TrainResult:
    """Train ``config``'s model; under ``torchrun`` every rank calls this. Returns the outputs (on every rank)."""
    config.validate()
    info = init_distributed(config.device)
    out = Path(config.out_dir)
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        _setup_log(out / "train.log", config.progress)
    try:
        return _Run(config, info, out, resume).run()
    finally:
        if info.is_main:
            _close_log()


class _Run:
    """One training run's state; ``run`` is the epoch loop."""

    def __init__(self, config: TrainConfig, info: DistInfo, out: Path, resume: bool):
        self.config, self.info, self.out = config, info, out
        if config.batch_size % info.world_size:
            raise ConfigError(f"batch_size {config.batch_size} is not divisible by {info.world_size} processes")
        self._check_out_dir(resume)
        self.splits = load_splits(config)
        self.model_config = model_config_for(config, self.splits)
        self.model_info = model_info_for(config, self.splits.labels)
        torch.manual_seed(config.seed)
        self.model = build_model(self.model_config).to(info.device)
        self.optimizer = build_optimizer(self.model.parameters(), config.lr)
        self.scheduler = build_scheduler(
            self.optimizer, config.scheduler, start=config.lr_start, step=config.lr_step, decay=config.lr_decay,
            patience=config.plateau_patience,
        )
        self.steps_per_epoch = len(self.splits.train) // config.batch_size
        self.warmup = LinearWarmup(self.optimizer, config.warmup_steps) if config.warmup_steps else None
        if self.warmup is not None and config.scheduler == "multistep":
            self.warmup.check_fits(config.lr_start * self.steps_per_epoch if config.lr_start else 0)
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] = {"epoch": 0, "value": -math.inf}
        self.global_step = 0
        self.start_epoch = 1
        if resume and (out / CHECKPOINT).exists():
            self._resume()
        self.bf16 = config.bf16 if config.bf16 is not None else info.device.type == "cuda"
        self.weights = (
            balanced_weights(self.splits.train.label_indices, len(self.splits.labels)) if config.balanced else None
        )
        self.augment = AugmentConfig(
            mixup=config.mixup, label_smoothing=config.label_smoothing, noise=config.noise, feat_norm=config.feat_norm
        )
        self.batches = TrainBatches(self.splits.train, self.augment, rank=info.rank, world_size=info.world_size)
        self.forward_model = self._wrap(self.model)
        self.timing: list[dict[str, float]] = []

    # ----- set-up -------------------------------------------------------------------------------
    def _check_out_dir(self, resume: bool) -> None:
        saved = self.out / "config.yaml"
        if not (self.out / CHECKPOINT).exists():
            return
        if not resume:
            raise ConfigError(f"{self.out} already holds a training run; pass --resume or choose another out_dir")
        before = yaml.safe_load(saved.read_text()) if saved.exists() else {}
        now = self.config.to_dict()
        changed = sorted(k for k in now if k not in RESUMABLE_CHANGES and before.get(k) != now[k])
        if changed:
            raise ConfigError(f"cannot resume {self.out}: settings differ from the stopped run: {', '.join(changed)}")

    def _resume(self) -> None:
        state = load_checkpoint(self.out / CHECKPOINT, model=self.model, optimizer=self.optimizer,
                                scheduler=self.scheduler, map_location=self.info.device)
        extra = state["extra"]
        self.history = list(extra["history"])
        self.best = dict(extra["best"])
        self.global_step = int(extra["global_step"])
        self.start_epoch = int(state["epoch"]) + 1
        if self.warmup is not None and extra.get("warmup"):
            self.warmup.load_state_dict(extra["warmup"])
        if self.info.is_main:
            log.info("resuming %s after epoch %d", self.out, state["epoch"])

    def _wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        if self.info.distributed:
            device_ids = [self.info.device.index] if self.info.device.type == "cuda" else None
            model = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=device_ids,
                # unified / independent use one modality's branch per step
                find_unused_parameters=self.model_config.arch != "cross_attention",
            )
        if self.config.compile:
            model = torch.compile(model)
        return model

    # ----- the loop -----------------------------------------------------------------------------
    def run(self) -> TrainResult:
        config, info = self.config, self.info
        if info.is_main:
            if self.start_epoch == 1:
                write_text_atomic(self.out / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))
            n_params = sum(p.numel() for p in self.model.parameters())
            log.info("model %s, %.3f M parameters; %d training clips, %d steps/epoch of %d on %d process(es), %s",
                     self.model_config.arch, n_params / 1e6, len(self.splits.train), self.steps_per_epoch,
                     config.batch_size, info.world_size, info.device)
        for epoch in range(self.start_epoch, config.epochs + 1):
            started = time.perf_counter()
            lr = current_lr(self.optimizer)
            train_loss = self._train_epoch(epoch)
            trained = time.perf_counter()
            row = {"epoch": epoch, "lr": lr, "train_loss": train_loss}
            for split in ("val", "test"):
                dataset = getattr(self.splits, split)
                if dataset is not None:
                    row[split] = summary(self._evaluate(dataset, f"{split} {epoch}"))
            self.history.append(row)
            improved = self._select(row)
            step_scheduler(self.scheduler, self._main_value(row))
            if info.is_main:
                self.timing.append({"epoch": epoch, "train_s": trained - started,
                                    "eval_s": time.perf_counter() - trained})
                self._save_epoch(epoch, improved)
                write_json_atomic(self.out / "timing.json", self.timing)
                self._log_epoch(row)
        result = TrainResult(self.out, self.out / "best_model.safetensors", self.out / "last_model.safetensors",
                             int(self.best["epoch"]), self.best.get("selected_on", self._selection_split()),
                             self.history)
        if self.info.distributed:
            dist.barrier()
        return result

    def _train_epoch(self, epoch: int) -> float:
        config, info = self.config, self.info
        self.batches.plan = plan_epoch(
            len(self.splits.train), batch_size=config.batch_size, epoch=epoch, seed=config.seed,
            augment=self.augment, weights=self.weights, a_tr_prob=config.a_tr_prob,
            both_modalities=self.model_config.arch == "cross_attention",
        )
        loader = torch.utils.data.DataLoader(
            self.batches, batch_size=None, shuffle=False, num_workers=config.num_workers,
            pin_memory=info.device.type == "cuda", prefetch_factor=4 if config.num_workers else None,
        )
        self.forward_model.train()
        check_every = 1 if info.device.type == "cpu" else 25
        loss_sum = torch.zeros((), device=info.device, dtype=torch.float64)
        bar = tqdm(loader, desc=f"epoch {epoch}", leave=False, disable=not (config.progress and info.is_main))
        for step, batch in enumerate(bar):
            if self.warmup is not None:
                self.warmup.step(self.global_step)
            loss = self._step(batch)
            loss_sum += loss.detach()
            self.global_step += 1
            if (step + 1) % check_every == 0 or step + 1 == len(loader):
                mean = self._check_finite(loss_sum, epoch, step)
                bar.set_postfix(loss=f"{mean / (step + 1):.4f}", refresh=False)
        return float(self._check_finite(loss_sum, epoch, len(loader) - 1)) / max(1, len(loader))

    def _step(self, batch: dict) -> torch.Tensor:
        return training_step(self.forward_model, self.optimizer, batch, loss=self.config.loss,
                             device=self.info.device, bf16=self.bf16,
                             set_to_none=self.config.zero_grad_set_to_none)

    def _check_finite(self, loss_sum: torch.Tensor, epoch: int, step: int) -> float:
        total = loss_sum.detach().clone()
        if self.info.distributed:
            dist.all_reduce(total)
            total /= self.info.world_size
        value = float(total)
        if not math.isfinite(value):
            raise TrainingDiverged(
                f"the training loss became {value} in epoch {epoch} by step {step + 1}; lower lr "
                f"(now {current_lr(self.optimizer):g}) or check the features; {self.out / CHECKPOINT} "
                f"holds the last good epoch"
            )
        return value

    def _evaluate(self, dataset: FeatureDataset, desc: str) -> dict[str, Any]:
        return evaluate(
            self.model, dataset, batch_size=self.config.eval_batch_size, feat_norm=self.config.feat_norm,
            num_workers=self.config.num_workers, bf16=self.bf16, dist_info=self.info,
            progress=self.config.progress, desc=desc,
        )

    # ----- model selection and outputs ----------------------------------------------------------
    def _selection_split(self) -> str | None:
        if self.config.select_on == "test":
            return "test"
        return "val" if self.splits.val is not None else None

    def _main_value(self, row: dict[str, Any]) -> float:
        split = self._selection_split()
        return float(row[split]["av"][self.config.main_metric]) if split else 0.0

    def _select(self, row: dict[str, Any]) -> bool:
        split = self._selection_split()
        value = self._main_value(row) if split else float(row["epoch"])  # no split: the last epoch
        if value > self.best["value"] or not self.best["epoch"]:
            self.best = {"epoch": row["epoch"], "value": value, "selected_on": split or "last epoch",
                         "metric": f"{self.config.main_metric}_av"}
            return True
        return False

    def _save_epoch(self, epoch: int, improved: bool) -> None:
        from ..models.checkpoint import save_model

        save_model(self.model, self.out / "last_model.safetensors", self.model_info)
        if improved:
            save_model(self.model, self.out / "best_model.safetensors", self.model_info)
        self._write_results()
        extra = {"history": self.history, "best": self.best, "global_step": self.global_step,
                 "warmup": self.warmup.state_dict() if self.warmup is not None else None}
        save_checkpoint(self.out / CHECKPOINT, model=self.model, optimizer=self.optimizer,
                        scheduler=self.scheduler, epoch=epoch, extra=extra)
        if self.config.keep_checkpoints:
            save_checkpoint(self.out / "checkpoints" / f"epoch_{epoch}.pt", model=self.model,
                            optimizer=self.optimizer, scheduler=self.scheduler, epoch=epoch, extra=extra)

    def _write_results(self) -> None:
        table_split = "test" if self.splits.test is not None else ("val" if self.splits.val is not None else None)
        if table_split:
            write_text_atomic(self.out / "results.csv", results_table(self.history, table_split))
            if table_split == "test" and self.splits.val is not None:
                write_text_atomic(self.out / "results_val.csv", results_table(self.history, "val"))
        best_row = self.history[int(self.best["epoch"]) - 1] if self.best["epoch"] else {}
        best = {**self.best, **{s: best_row[s] for s in ("val", "test") if s in best_row}}
        if best.get("selected_on") == "test":
            best["note"] = "chosen on the test split (the reference's practice): its test scores are optimistic"
        write_json_atomic(self.out / "best.json", best)
        write_json_atomic(self.out / "results.json", {"history": self.history, "best": best})
        if len(self.history) == self.config.epochs or self.timing and self.timing[-1]["train_s"] > 60:
            plot_history(self.history, self.out / "results.png", self.config.main_metric)

    def _log_epoch(self, row: dict[str, Any]) -> None:
        parts = [f"epoch {row['epoch']}", f"lr {row['lr']:.3g}", f"train loss {row['train_loss']:.4f}"]
        for split in ("val", "test"):
            if split in row:
                metric = self.config.main_metric
                scores = " / ".join(f"{row[split][m][metric]:.4f}" for m in MODES)
                parts.append(f"{split} {metric} a/v/av {scores}")
        parts.append(f"best epoch {self.best['epoch']} ({self.best.get('selected_on')})")
        log.info("; ".join(parts))


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
    keeps moving the branch a batch did not use (the reference's behaviour, SPEC §5).
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
    lines = [",".join(RESULT_COLUMNS + ["lr"])]
    for row in history:
        values = result_row(row[split])
        lines.append(",".join(repr(float(values[c])) for c in RESULT_COLUMNS) + f",{float(row['lr'])!r}")
    return "\n".join(lines) + "\n"


def plot_history(history: list[dict[str, Any]], path: Path, metric: str) -> None:
    """Per-epoch ``metric`` for audio, visual and audio+visual on each split (skipped without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    splits = [s for s in ("val", "test") if history and s in history[0]]
    if not splits:
        return
    fig, axes = plt.subplots(1, len(splits), figsize=(5 * len(splits), 3.5), squeeze=False)
    epochs = [r["epoch"] for r in history]
    for ax, split in zip(axes[0], splits):
        for m, label in zip(MODES, ("audio", "visual", "audio+visual")):
            ax.plot(epochs, [r[split][m][metric] for r in history], marker="o", label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(split)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    with contextlib.suppress(OSError):
        from ..atomic import atomic_path

        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


_handlers: list[logging.Handler] = []


def _setup_log(path: Path, console: bool) -> None:
    log.setLevel(logging.INFO)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    log.addHandler(handler)
    _handlers.append(handler)
    if console:
        stream = logging.StreamHandler()
        stream.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(stream)
        _handlers.append(stream)


def _close_log() -> None:
    while _handlers:
        handler = _handlers.pop()
        log.removeHandler(handler)
        handler.close()
