"""The trainer shell: the epoch loop, model selection, checkpoint / resume, results, plots and logs.

Both trainers (the feature-model trainer, :mod:`uavm.train.trainer`, and the
audio-encoder trainer, :mod:`uavm.train.audio_encoder`) are subclasses of
:class:`TrainerShell`; each supplies only what differs: its data, model, one
epoch of training, the evaluation of a split and the scores it reports. Every run
writes the same files into ``out_dir``:

* ``config.yaml`` — the settings; a resumed run must match them (see ``RESUMABLE_CHANGES``);
* ``results.csv`` — one row per epoch (the trainer chooses the columns), ``results.json``
  (every metric and the training loss per epoch, the best epoch) and ``best.json``;
* ``best_model.safetensors`` (the best epoch on the validation split by default; on the
  test split only with ``select_on=test``; the last epoch without either) and
  ``last_model.safetensors``;
* ``checkpoint.pt`` — model, optimiser, scheduler, RNG state and progress after the last
  finished epoch; ``resume=True`` continues from it and ends with the results of a run
  never stopped (same seed, same device);
* ``train.log`` (one line per epoch, also printed), ``timing.json``, ``results.png``.
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
import yaml

from ..atomic import atomic_path, write_json_atomic, write_text_atomic
from ..device import use_bf16
from ..errors import ConfigError, UAVMError
from ..store.writer import acquire_lock, release_lock
from .checkpointing import load_checkpoint, save_checkpoint
from .config import RunSettings
from .distributed import DistInfo
from .schedule import LinearWarmup, current_lr, step_scheduler

log = logging.getLogger("uavm.train")

CONFIG = "config.yaml"
RESULTS_CSV = "results.csv"
RESULTS_JSON = "results.json"
BEST_JSON = "best.json"
BEST_MODEL = "best_model.safetensors"
LAST_MODEL = "last_model.safetensors"
CHECKPOINT = "checkpoint.pt"
LOG = "train.log"
TIMING = "timing.json"
PLOT = "results.png"
SPLITS = ("val", "test")
# settings that may change between a run and its resumption without changing its results
RESUMABLE_CHANGES = {
    "out_dir",
    "epochs",
    "num_workers",
    "progress",
    "device",
    "keep_checkpoints",
    "eval_batch_size",
    "keep_epoch_weights",
}


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
    extra: dict[str, Any] = field(default_factory=dict)  # what one trainer adds (averaged weights, skipped clips)

    @property
    def results_csv(self) -> Path:
        return self.out_dir / RESULTS_CSV


class TrainerShell:
    """One training run. Subclasses set ``model``, ``optimizer``, ``scheduler`` (and ``warmup``) in
    :meth:`build` and implement :meth:`train_epoch`, :meth:`evaluate_split`, :meth:`main_score`,
    :meth:`save_weights`, :meth:`tables` and :meth:`scores`; the hooks :meth:`checkpoint_extra`,
    :meth:`restore_extra`, :meth:`end_epoch` and :meth:`finish` are optional."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    warmup: LinearWarmup | None = None

    def __init__(self, config: RunSettings, info: DistInfo, resume: bool):
        self.config, self.info = config, info
        self.out = Path(config.out_dir)
        self.device = info.device
        self.bf16 = use_bf16(info.device, config.bf16)
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] = {"epoch": 0, "value": -math.inf}
        self.global_step = 0
        self.start_epoch = 1
        self.timing: list[dict[str, float]] = []
        self._check_out_dir(resume)
        resuming = resume and (self.out / CHECKPOINT).exists()
        if resume and not resuming and info.is_main:
            log.warning("%s holds no checkpoint to resume from: training from epoch 1", self.out)
        self.build(resuming)
        if resuming:
            self._resume()

    # ----- what a trainer supplies ---------------------------------------------------------------
    def build(self, resuming: bool) -> None:
        """Open the data; create the model, optimiser, scheduler (and warm-up); ``resuming``: a checkpoint
        will replace the model's weights (no need to fetch initial ones)."""
        raise NotImplementedError

    def has_split(self, split: str) -> bool:
        """Whether the run evaluates ``split`` ("val" or "test") every epoch."""
        raise NotImplementedError

    def train_epoch(self, epoch: int) -> float:
        """Train one epoch (advancing ``self.global_step``); return its mean training loss."""
        raise NotImplementedError

    def evaluate_split(self, split: str, epoch: int) -> dict[str, Any]:
        """The JSON-ready metrics of ``split`` after ``epoch``."""
        raise NotImplementedError

    def main_score(self, scores: dict[str, Any]) -> float:
        """The number the best epoch is chosen on, out of :meth:`evaluate_split`'s result."""
        raise NotImplementedError

    def scores(self, scores: dict[str, Any]) -> dict[str, float]:
        """``{curve label: value of the main metric}`` of a split's result, for the log line and the plot."""
        raise NotImplementedError

    def save_weights(self, path: Path) -> Path:
        """Write the model's weights as a user-facing file."""
        raise NotImplementedError

    def tables(self) -> dict[str, str]:
        """``{file name: CSV text}`` of the per-epoch result tables (at least ``results.csv``)."""
        raise NotImplementedError

    def checkpoint_extra(self) -> dict[str, Any]:
        """Trainer state beyond model / optimiser / scheduler to keep in the checkpoint."""
        return {}

    def restore_extra(self, extra: dict[str, Any]) -> None:
        """Take back :meth:`checkpoint_extra`'s state."""

    def end_epoch(self, epoch: int) -> None:
        """Called on the main process after an epoch is evaluated, before its outputs and checkpoint are written."""

    def finish(self, result: TrainResult) -> None:
        """Called on every process after the last epoch; may add to ``result.extra``."""

    # ----- set-up ---------------------------------------------------------------------------------
    def _check_out_dir(self, resume: bool) -> None:
        if not (self.out / CHECKPOINT).exists():
            return
        if not resume:
            raise ConfigError(f"{self.out} already holds a training run; pass --resume or choose another out_dir")
        saved = self.out / CONFIG
        before = yaml.safe_load(saved.read_text()) if saved.exists() else {}
        now = self.config.to_dict()
        changed = sorted(k for k in now if k not in RESUMABLE_CHANGES and before.get(k) != now[k])
        if changed:
            raise ConfigError(f"cannot resume {self.out}: settings differ from the stopped run: {', '.join(changed)}")

    def _resume(self) -> None:
        state = load_checkpoint(
            self.out / CHECKPOINT,
            model=self.model,
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            map_location=self.device,
        )
        extra = state["extra"]
        self.history = list(extra["history"])
        self.best = dict(extra["best"])
        self.global_step = int(extra["global_step"])
        self.start_epoch = int(state["epoch"]) + 1
        if self.warmup is not None and extra.get("warmup"):
            self.warmup.load_state_dict(extra["warmup"])
        self.restore_extra(extra)
        if self.info.is_main:
            log.info("resuming %s after epoch %d", self.out, state["epoch"])

    # ----- the loop -------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        """Train the remaining epochs; write the outputs after each."""
        if self.info.is_main and self.start_epoch == 1:
            write_text_atomic(self.out / CONFIG, yaml.safe_dump(self.config.to_dict(), sort_keys=False))
        for epoch in range(self.start_epoch, self.config.epochs + 1):
            started = time.perf_counter()
            row: dict[str, Any] = {"epoch": epoch, "lr": current_lr(self.optimizer)}
            row["train_loss"] = self.train_epoch(epoch)
            trained = time.perf_counter()
            for split in SPLITS:
                if self.has_split(split):
                    row[split] = self.evaluate_split(split, epoch)
            self.history.append(row)
            improved = self._select(row)
            step_scheduler(self.scheduler, self._main_value(row))
            if self.info.is_main:
                self.timing.append(
                    {"epoch": epoch, "train_s": trained - started, "eval_s": time.perf_counter() - trained}
                )
                self.end_epoch(epoch)
                self._save_epoch(epoch, improved)
                write_json_atomic(self.out / TIMING, self.timing)
                self._log_epoch(row)
        result = TrainResult(
            self.out,
            self.out / BEST_MODEL,
            self.out / LAST_MODEL,
            int(self.best["epoch"]),
            self.best.get("selected_on", self.selection_split() or "last epoch"),
            self.history,
        )
        self.finish(result)
        return result

    def check_finite(self, loss: float, epoch: int, step: int) -> float:
        """``loss`` when finite; else :class:`TrainingDiverged` naming the epoch, step and what to try."""
        if not math.isfinite(loss):
            kept = f"; {self.out / CHECKPOINT} holds the last good epoch" if epoch > 1 else ""
            raise TrainingDiverged(
                f"the training loss became {loss} in epoch {epoch} by step {step + 1}; lower lr "
                f"(now {current_lr(self.optimizer):g}) or check the data{kept}"
            )
        return loss

    # ----- model selection and outputs ------------------------------------------------------------
    def selection_split(self) -> str | None:
        """The split the best epoch is chosen on (None: the last epoch is the best)."""
        if self.config.select_on == "test":
            return "test"
        return "val" if self.has_split("val") else None

    def _main_value(self, row: dict[str, Any]) -> float:
        split = self.selection_split()
        return float(self.main_score(row[split])) if split else 0.0

    def _select(self, row: dict[str, Any]) -> bool:
        split = self.selection_split()
        value = self._main_value(row) if split else float(row["epoch"])
        if value > self.best["value"] or not self.best["epoch"]:
            self.best = {
                "epoch": row["epoch"],
                "value": value,
                "selected_on": split or "last epoch",
                "metric": self.config.main_metric,
            }
            return True
        return False

    def _save_epoch(self, epoch: int, improved: bool) -> None:
        self.save_weights(self.out / LAST_MODEL)
        if improved:
            self.save_weights(self.out / BEST_MODEL)
        self.write_results()
        extra = {
            "history": self.history,
            "best": self.best,
            "global_step": self.global_step,
            "warmup": self.warmup.state_dict() if self.warmup is not None else None,
            **self.checkpoint_extra(),
        }
        save_checkpoint(
            self.out / CHECKPOINT,
            model=self.model,
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            epoch=epoch,
            extra=extra,
        )
        if self.config.keep_checkpoints:
            save_checkpoint(
                self.out / "checkpoints" / f"epoch_{epoch}.pt",
                model=self.model,
                optimizer=self.optimizer,
                scheduler=self.scheduler,
                epoch=epoch,
                extra=extra,
            )

    def write_results(self, **extra: Any) -> None:
        """The result tables, ``best.json``, ``results.json`` (with ``extra``) and, at the end, the plot."""
        for name, text in self.tables().items():
            write_text_atomic(self.out / name, text)
        best_row = self.history[int(self.best["epoch"]) - 1] if self.best["epoch"] else {}
        best = {**self.best, **{s: best_row[s] for s in SPLITS if s in best_row}}
        if best.get("selected_on") == "test":
            best["note"] = "chosen on the test split (the reference's practice): its test scores are optimistic"
        write_json_atomic(self.out / BEST_JSON, best)
        write_json_atomic(
            self.out / RESULTS_JSON,
            {"history": self.history, "best": best, "main_metric": self.config.main_metric, **extra},
        )
        if len(self.history) == self.config.epochs or self.timing and self.timing[-1]["train_s"] > 60:
            plot_history(self.history, self.out / PLOT, self.config.main_metric, self.scores)

    def _log_epoch(self, row: dict[str, Any]) -> None:
        parts = [f"epoch {row['epoch']}", f"lr {row['lr']:.3g}", f"train loss {row['train_loss']:.4f}"]
        for split in SPLITS:
            if split in row:
                scores = self.scores(row[split])
                values = " / ".join(f"{v:.4f}" for v in scores.values())
                parts.append(f"{split} {self.config.main_metric} {'/'.join(scores)} {values}")
        parts.append(f"best epoch {self.best['epoch']} ({self.best.get('selected_on')})")
        log.info("; ".join(parts))


def run_training(shell: type[TrainerShell], config: RunSettings, info: DistInfo, *, resume: bool) -> TrainResult:
    """Make ``out_dir`` and lock it (a second run into it is refused), log to its ``train.log`` (and the
    console) and run ``shell`` to the end."""
    out = Path(config.out_dir)
    lock = None
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        # two runs writing one folder would interleave their epochs in its results
        lock = acquire_lock(out, blocking=False, busy="another training run is writing this folder")
        _setup_log(out / LOG, config.progress)
    try:
        return shell(config, info, resume).run()
    finally:
        if info.is_main:
            _close_log()
            release_lock(lock)


def csv_table(columns: list[str], rows: list[dict[str, Any]]) -> str:
    """CSV text: a header line and one line per row (floats as ``repr``, absent values empty)."""

    def cell(value: Any) -> str:
        if value is None or value == "":
            return ""
        return repr(float(value)) if isinstance(value, float) else str(value)

    return "\n".join([",".join(columns)] + [",".join(cell(row.get(c)) for c in columns) for row in rows]) + "\n"


def plot_history(history: list[dict[str, Any]], path: Path, metric: str, scores: Any) -> None:
    """Training loss, and ``metric`` per epoch of each evaluated split, one curve per label of
    ``scores(split result)`` (skipped without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    splits = [s for s in SPLITS if history and s in history[0]]
    fig, axes = plt.subplots(1, 1 + len(splits), figsize=(5 * (1 + len(splits)), 3.5), squeeze=False)
    epochs = [r["epoch"] for r in history]
    axes[0][0].plot(epochs, [r["train_loss"] for r in history], marker="o", label="train")
    axes[0][0].set(xlabel="epoch", ylabel="training loss")
    for ax, split in zip(axes[0][1:], splits):
        curves: dict[str, list[float]] = {}
        for r in history:
            for label, value in scores(r[split]).items():
                curves.setdefault(label, []).append(value)
        for label, values in curves.items():
            ax.plot(epochs, values, marker="o", label=label)
        ax.set(xlabel="epoch", ylabel=metric, title=split)
        ax.legend()
    for ax in axes[0]:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    with contextlib.suppress(OSError), atomic_path(path) as tmp:
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
