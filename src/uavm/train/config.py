"""Training configuration: a recipe YAML plus ``key=value`` overrides → :class:`TrainConfig`.

Recipe keys are the field names of :class:`TrainConfig`; the model's sizes sit
under ``model:`` (the fields of :class:`uavm.models.config.ModelConfig`) and are
overridden as ``model.embed_dim=32``. Values of overrides are read as YAML
(``lr=1e-4``, ``noise=false``, ``test=null``). Unknown keys are errors.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError
from ..models.config import ModelConfig

LOSSES = ("ce", "bce")
METRICS = ("acc", "mAP")
SELECT_ON = ("val", "test")
DATASET_DEFAULTS = {"vggsound": {"loss": "ce", "main_metric": "acc"}, "audioset": {"loss": "bce", "main_metric": "mAP"}}


@dataclass
class TrainConfig:
    """Everything a training run depends on (SPEC §4–5); defaults are the paper's VGGSound UAVM recipe."""

    train: str = ""  # packed feature-store folder or reference datafile (.json)
    val: str | None = None  # validation split; else ``val_fraction`` of train is held out
    test: str | None = None  # evaluated every epoch, reported; selects the best only with select_on=test
    val_fraction: float = 0.0
    select_on: str = "val"  # "val" (default) or "test" (the reference's practice; labelled so)
    labels: str = "vggsound"  # "vggsound" | "audioset" | path of a label CSV
    out_dir: str = "runs/uavm"
    model: dict[str, Any] = field(default_factory=lambda: {"arch": "unified"})
    loss: str = "ce"  # "ce" (soft-target cross-entropy) | "bce" (BCE with logits)
    main_metric: str = "acc"  # "acc" | "mAP", on audio+visual
    lr: float = 5e-5
    batch_size: int = 144
    epochs: int = 10
    scheduler: str = "multistep"  # "multistep" | "plateau"
    lr_start: int = 1
    lr_step: int = 1
    lr_decay: float = 0.5
    plateau_patience: int = 2
    warmup_steps: int = 0
    balanced: bool = True
    mixup: float = 0.5
    label_smoothing: float = 0.1
    noise: bool = True
    feat_norm: bool = True
    a_tr_prob: float = 0.5
    zero_grad_set_to_none: bool = False  # False reproduces the reference (torch 1.11), SPEC §5
    seed: int = 0
    num_workers: int = 2
    eval_batch_size: int = 256
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N"
    bf16: bool | None = None  # None: on with CUDA, off on CPU
    compile: bool = False
    keep_checkpoints: bool = False  # keep every epoch's training checkpoint, not only the last
    progress: bool = True

    def validate(self) -> TrainConfig:
        """Check values; raise :class:`ConfigError` naming the first bad one."""
        if not self.train:
            raise ConfigError("no training data: set train=<feature store folder or datafile.json>")
        _choice("loss", self.loss, LOSSES)
        _choice("main_metric", self.main_metric, METRICS)
        _choice("select_on", self.select_on, SELECT_ON)
        _choice("scheduler", self.scheduler, ("multistep", "plateau"))
        if self.select_on == "test" and not self.test:
            raise ConfigError("select_on=test needs a test split (test=...)")
        if self.select_on == "val" and not self.val and not self.val_fraction and self.test:
            raise ConfigError(
                "no validation split to choose the best epoch: set val=..., or val_fraction=0.05, "
                "or select_on=test (the reference's practice, reported as such)"
            )
        for name in ("lr", "batch_size", "epochs", "eval_batch_size"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("mixup", "label_smoothing", "a_tr_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0 <= self.val_fraction < 1:
            raise ConfigError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        self.model_config(num_classes=1)
        return self

    def model_config(self, **known: Any) -> ModelConfig:
        """The :class:`ModelConfig` of ``model`` with ``known`` filling the keys the recipe leaves out."""
        values = {**known, **{k: v for k, v in self.model.items() if v is not None}}
        try:
            return ModelConfig.from_dict(values)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"model: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _choice(name: str, value: Any, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ConfigError(f"{name} must be one of {', '.join(options)}; got {value!r}")


def load_recipe(path: str | Path) -> dict[str, Any]:
    """The mapping of a recipe YAML file."""
    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read recipe ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: a recipe is a YAML mapping of settings")
    return values


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """``values`` with ``key=value`` / ``model.key=value`` overrides applied (values parsed as YAML)."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in values.items()}
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not key=value")
        try:
            value = yaml.safe_load(text) if text else None
        except yaml.YAMLError:
            value = text
        parts = key.split(".")
        target = out
        for part in parts[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise ConfigError(f"override {item!r}: {part} is not a mapping")
        target[parts[-1]] = value
    return out


def build_config(values: dict[str, Any]) -> TrainConfig:
    """A validated :class:`TrainConfig` from a mapping; ``dataset: vggsound|audioset`` sets loss/metric defaults."""
    values = dict(values)
    dataset = values.pop("dataset", None)
    if dataset is not None:
        if dataset not in DATASET_DEFAULTS:
            raise ConfigError(f"dataset must be one of {', '.join(DATASET_DEFAULTS)}; got {dataset!r}")
        for k, v in DATASET_DEFAULTS[dataset].items():
            values.setdefault(k, v)
        values.setdefault("labels", dataset)
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
    if "model" in values and not isinstance(values["model"], dict):
        raise ConfigError("model must be a mapping of model settings (arch, embed_dim, ...)")
    for f in dataclasses.fields(TrainConfig):
        if f.name in values:
            values[f.name] = _typed_setting(f.name, values[f.name], str(f.type))
    return TrainConfig(**values).validate()


def _typed_setting(name: str, value: Any, kind: str) -> Any:
    """``value`` checked against the field's declared type (``int``, ``float``, ``bool``, ``str``, ``... | None``)."""
    optional = kind.endswith(" | None")
    base = kind.removesuffix(" | None")
    if value is None:
        if optional or base not in ("int", "float", "bool", "str"):
            return value
        wanted = {"int": "a whole number", "float": "a number", "bool": "true or false", "str": "a string"}[base]
        raise ConfigError(f"{name} must be {wanted}, got null")
    if base in ("int", "float", "bool"):
        return _coerce(name, value, base)
    if base == "str" and not isinstance(value, str):
        raise ConfigError(f"{name} must be a string, got {value!r}")
    return value


def _coerce(name: str, value: Any, kind: str) -> Any:
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value) if kind == "float" else int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if kind == "int" and float(value) != number:
        raise ConfigError(f"{name} must be a whole number, got {value!r}")
    return number


def config_from_recipe(path: str | Path | None, overrides: list[str] | None = None) -> TrainConfig:
    """Recipe file (optional) + overrides → validated :class:`TrainConfig`."""
    values = load_recipe(path) if path else {}
    return build_config(apply_overrides(values, overrides or []))
