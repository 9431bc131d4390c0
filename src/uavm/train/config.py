"""Training settings: a recipe YAML plus ``key=value`` overrides → a validated settings dataclass.

Both trainers read their settings here: :class:`RunSettings` holds what every run
has (data splits, selection, loss, optimiser schedule, device, ...) and its checks;
:class:`TrainConfig` (the feature-model trainer) and
:class:`uavm.train.audio_encoder.AudioEncoderConfig` add their own fields.
:func:`parse_settings` turns a mapping into either, with the same one-line errors
for unknown keys and values of the wrong type. Recipe keys are field names; the
feature model's sizes sit under ``model:`` (the fields of
:class:`uavm.model_config.ModelConfig`) and are overridden as ``model.embed_dim=32``.
Values of overrides are read as YAML (``lr=1e-4``, ``noise=false``, ``test=null``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ..device import resolve_device
from ..errors import ConfigError
from ..model_config import ModelConfig

LOSSES = ("ce", "bce")
METRICS = ("acc", "mAP")
SELECT_ON = ("val", "test")
SCHEDULERS = ("multistep", "plateau")
DATASET_DEFAULTS = {"vggsound": {"loss": "ce", "main_metric": "acc"}, "audioset": {"loss": "bce", "main_metric": "mAP"}}

S = TypeVar("S", bound="RunSettings")


@dataclass
class RunSettings:
    """The settings every training run has; subclasses add theirs and may change the defaults."""

    train: str = ""  # training data (a feature store or a datafile)
    val: str | None = None  # validation split; else ``val_fraction`` of train is held out
    test: str | None = None  # evaluated every epoch, reported; selects the best only with select_on=test
    val_fraction: float = 0.0
    select_on: str = "val"  # "val" (default) or "test" (the reference's practice; labelled so)
    labels: str | None = "vggsound"  # "vggsound" | "audioset" | path of a label CSV
    out_dir: str = "runs/uavm"
    loss: str = "ce"  # "ce" (soft-target cross-entropy) | "bce" (BCE with logits)
    main_metric: str = "acc"  # "acc" | "mAP"
    lr: float = 5e-5
    batch_size: int = 144
    epochs: int = 10
    scheduler: str = "multistep"  # "multistep" | "plateau"
    lr_start: int = 1
    lr_step: int = 1
    lr_decay: float = 0.5
    plateau_patience: int = 2
    balanced: bool = True
    mixup: float = 0.5
    label_smoothing: float = 0.1
    noise: bool = True
    seed: int = 0
    num_workers: int = 2
    eval_batch_size: int = 256
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N"
    bf16: bool | None = None  # None: on with CUDA, off on CPU
    progress: bool = True
    keep_checkpoints: bool = False  # keep every epoch's training checkpoint, not only the last

    def validate(self: S) -> S:
        """Check values; raise :class:`ConfigError` naming the first bad one."""
        if not self.train:
            raise ConfigError("no training data: set train=<feature store folder or datafile.json>")
        _check_types(self)
        _choice("loss", self.loss, LOSSES)
        _choice("main_metric", self.main_metric, METRICS)
        _choice("select_on", self.select_on, SELECT_ON)
        _choice("scheduler", self.scheduler, SCHEDULERS)
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
        if not 0 <= self.mixup <= 1:
            raise ConfigError(f"mixup must be in [0, 1], got {self.mixup}")
        if not 0 <= self.label_smoothing < 1:  # 1 would make every target uniform: nothing to learn
            raise ConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if not self.lr_decay > 0:  # 0 stops learning, a negative factor turns the steps uphill
            raise ConfigError(f"lr_decay must be positive, got {self.lr_decay}")
        for name in ("seed", "plateau_patience"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative, got {getattr(self, name)}")
        if not 0 <= self.val_fraction < 1:
            raise ConfigError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.num_workers < 0:
            raise ConfigError(f"num_workers must not be negative, got {self.num_workers}")
        resolve_device(self.device)  # a one-line ConfigError for a name that is no usable device
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class TrainConfig(RunSettings):
    """Everything a feature-model training run depends on; defaults are the paper's VGGSound UAVM recipe."""

    train: str = ""  # packed feature-store folder or reference datafile (.json)
    labels: str = "vggsound"  # "vggsound" | "audioset" | path of a label CSV
    model: dict[str, Any] = field(default_factory=lambda: {"arch": "unified"})
    warmup_steps: int = 0
    feat_norm: bool = True
    a_tr_prob: float = 0.5
    zero_grad_set_to_none: bool = False  # False zeroes gradients like torch 1.11 did (the reference)
    compile: bool = False

    def validate(self) -> TrainConfig:
        """Check values; raise :class:`ConfigError` naming the first bad one."""
        if not isinstance(self.model, dict):
            raise ConfigError("model must be a mapping of model settings (arch, embed_dim, ...)")
        super().validate()
        if not 0 <= self.a_tr_prob <= 1:
            raise ConfigError(f"a_tr_prob must be in [0, 1], got {self.a_tr_prob}")
        if self.warmup_steps < 0:
            raise ConfigError(f"warmup_steps must not be negative, got {self.warmup_steps}")
        self.model_config(num_classes=1)
        return self

    def model_config(self, **known: Any) -> ModelConfig:
        """The :class:`ModelConfig` of ``model`` with ``known`` filling the keys the recipe leaves out."""
        values = {**known, **{k: v for k, v in self.model.items() if v is not None}}
        try:
            return ModelConfig.from_dict(values)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"model: {exc}") from None


def _choice(name: str, value: Any, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ConfigError(f"{name} must be one of {', '.join(options)}; got {value!r}")


def parse_settings(cls: type[S], values: dict[str, Any], *, what: str = "setting") -> S:
    """A validated ``cls`` from a mapping: unknown keys and values of the wrong type are one-line errors."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"unknown {what}(s): {', '.join(unknown)}")
    # null for a text setting whose default is empty (train) leaves it unset; elsewhere null must be allowed
    parsed = {
        name: "" if value is None and fields[name].default == "" else _coerce(name, value, str(fields[name].type))
        for name, value in values.items()
    }
    return cls(**parsed).validate()


def _check_types(settings: RunSettings) -> None:
    """Re-check the field types of settings built directly (not through :func:`parse_settings`)."""
    for f in dataclasses.fields(settings):
        _coerce(f.name, getattr(settings, f.name), str(f.type))


def _coerce(name: str, value: Any, kind: str) -> Any:
    """``value`` as the field type ``kind`` (``int``, ``float``, ``bool``, ``str``, ``dict[...]``, ``... | None``)."""
    base, _, rest = kind.partition(" | ")
    if value is None:
        if rest == "None":
            return None
        wanted = {"int": "a number", "float": "a number", "bool": "true or false", "str": "a string"}.get(base, "set")
        raise ConfigError(f"{name} must be {wanted}, got null")
    if base == "bool":
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    if base in ("int", "float"):
        if isinstance(value, bool):
            raise ConfigError(f"{name} must be a number, got {value!r}")
        try:
            number = float(value) if base == "float" else int(value)
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(f"{name} must be a number, got {value!r}") from None
        if base == "int" and float(value) != number:
            raise ConfigError(f"{name} must be a whole number, got {value!r}")
        return number
    if base == "str":
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # YAML reads a name like 2024 as a number
        raise ConfigError(f"{name} must be a string, got {value!r}")
    if base.startswith("dict") and not isinstance(value, dict):
        raise ConfigError(f"{name} must be a mapping of settings, got {value!r}")
    return value


def dataset_defaults(values: dict[str, Any], dataset: str | None) -> dict[str, Any]:
    """``values`` with ``dataset``'s loss, main metric and label set filled in where they are not set."""
    if dataset is None:
        return values
    if dataset not in DATASET_DEFAULTS:
        raise ConfigError(f"dataset must be one of {', '.join(DATASET_DEFAULTS)}; got {dataset!r}")
    out = {**DATASET_DEFAULTS[dataset], **values}
    out.setdefault("labels", dataset)
    return out


def load_recipe(path: str | Path) -> dict[str, Any]:
    """The mapping of a recipe YAML file."""
    path = Path(path)
    try:
        values = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader) or {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read recipe ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({_yaml_problem(exc)})") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: a recipe is a YAML mapping of settings")
    return values


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (it would silently take the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if isinstance(key, str) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"{key!r} is set twice, on lines {seen[key]} and {line}", key_node.start_mark
                )
            seen[key] = line
        return super().construct_mapping(node, deep)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """What PyYAML found wrong, and on which line (its message is several lines long)."""
    problem, mark = getattr(exc, "problem", None), getattr(exc, "problem_mark", None)
    if problem and mark is not None:
        return f"{problem} on line {mark.line + 1}" if "line" not in problem else problem
    return str(exc).splitlines()[0]


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
    values = dataset_defaults(values, values.pop("dataset", None))
    if "model" in values and not isinstance(values["model"], dict):
        raise ConfigError("model must be a mapping of model settings (arch, embed_dim, ...)")
    return parse_settings(TrainConfig, values)


def config_from_recipe(path: str | Path | None, overrides: list[str] | None = None) -> TrainConfig:
    """Recipe file (optional) + overrides → validated :class:`TrainConfig`."""
    values = load_recipe(path) if path else {}
    return build_config(apply_overrides(values, overrides or []))
