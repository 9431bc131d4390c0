"""Classify anyone's clip: decode → audio and visual features → model → ranked classes.

A registered model knows its feature extractors and labels (``uavm_vggsound`` uses the
released VGGSound audio encoder, the ImageNet ConvNeXt-Base and the VGGSound labels);
a checkpoint trained with uavm records them in its file (:func:`uavm.models.read_model_info`).
Either can be overridden. Audio-only and visual-only predictions come from one modality
each; fused = mean of the two logit vectors (the cross-attention model sees both at once).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .data.labels import LabelSet, labels_from_info, load_labels
from .data.transforms import feat_norm, pad_or_cut
from .errors import ConfigError, UAVMError
from .extraction.decode import MISSING, DecodeConfig, decode_clip, describe_problems
from .extraction.failures import printable
from .extraction.encoders import AudioInput, Encoders, resolve_encoders
from .extraction.inputs import ClipInput, media_in_folder
from .extraction.pipeline import ExtractOptions, encode_batch
from .models import REGISTRY, create_model, load_model, read_model_info
from .store.records import FEATURE_SETTINGS

Ranked = list[tuple[str, float]]


@dataclass
class ClipPrediction:
    """Top-k (class name, probability) lists per view; a view is None when it cannot be computed."""

    path: str
    audio: Ranked | None = None
    visual: Ranked | None = None
    fused: Ranked | None = None
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for view in ("audio", "visual", "fused"):
            if out[view] is not None:
                out[view] = [{"label": name, "probability": round(p, 6)} for name, p in out[view]]
        return out


@dataclass
class ModelInputs:
    """How a model's inputs are made: encoder specs, fbank settings, frame sampling, labels."""

    audio_encoder: str | None = None
    visual_encoder: str | None = None
    labels: LabelSet | None = None
    audio_fbank: dict[str, Any] | None = None
    fps: float = 3
    short_side: int = 224
    interpolation: str = "bicubic"
    feat_norm: bool = True  # L2-normalise each time step, as in training
    multi_label: bool = False  # sigmoid scores (AudioSet, BCE) instead of a softmax

    @classmethod
    def of(cls, model_spec: str | Path) -> ModelInputs:
        """What the registry or the checkpoint file says about ``model_spec``."""
        entry = REGISTRY.get(str(model_spec))
        if entry is not None:
            return cls(entry.audio_encoder, entry.visual_encoder, load_labels(entry.dataset),
                       multi_label=entry.dataset == "audioset")
        info = read_model_info(model_spec)
        known = {k: info[k] for k in (*FEATURE_SETTINGS, "feat_norm") if info.get(k) is not None}
        return cls(**known, labels=labels_from_info(info), multi_label=info.get("loss") == "bce")


class Predictor:
    """Ranked predictions for media files with one model and its feature extractors.

    ``model``: a registered name (released weights, downloaded once), a checkpoint path,
    or a model object (then ``audio_encoder``, ``visual_encoder`` and ``labels`` are needed).
    Encoder specs are those of ``uavm extract`` (registry name, path, ``random:<size>:<seed>``).
    ``bf16`` runs the encoders in bfloat16 autocast (default: on a GPU only; use it on a CPU only
    where it has native bf16 instructions: elsewhere bf16 is emulated and several times slower).
    """

    def __init__(self, model: str | Path | nn.Module = "uavm_vggsound", *, audio_encoder: str | None = None,
                 visual_encoder: str | None = None, labels: str | Path | None = None, top_k: int = 5,
                 device: str = "auto", batch_size: int = 8, bf16: bool | None = None):
        inputs = ModelInputs() if isinstance(model, nn.Module) else ModelInputs.of(model)
        self.model = model if isinstance(model, nn.Module) else _load(model)
        self.arch = self.model.config.arch
        name = "the model" if isinstance(model, nn.Module) else str(model)
        audio_spec = audio_encoder or _recorded_spec(name, "audio_encoder", inputs.audio_encoder)
        visual_spec = visual_encoder or _recorded_spec(name, "visual_encoder", inputs.visual_encoder)
        label_set = load_labels(labels) if labels is not None else inputs.labels
        for what, value, flag in (("audio encoder", audio_spec, "--audio-encoder"),
                                  ("visual encoder", visual_spec, "--visual-encoder"), ("label set", label_set, "--labels")):
            if value is None:
                raise ConfigError(f"{name}: does not say which {what} its inputs need; pass {flag}")
        self.labels: LabelSet = label_set
        if len(self.labels) != self.model.config.num_classes:
            raise ConfigError(f"{name}: {self.model.config.num_classes} classes, but the label set "
                              f"{self.labels.source or '(embedded)'} has {len(self.labels)}")
        self.device = torch.device("cuda" if device == "auto" and torch.cuda.is_available()
                                   else "cpu" if device == "auto" else device)
        self.encoders: Encoders = resolve_encoders(audio_spec, visual_spec).to(self.device)
        for kind, encoder, key in (("audio", self.encoders.audio, "a_input_dim"),
                                   ("visual", self.encoders.visual, "v_input_dim")):
            want = getattr(self.model.config, key, None)
            if encoder is not None and want is not None and encoder.feature_dim != want:
                raise ConfigError(f"{name} takes {kind} features of width {want}, but the {kind} encoder "
                                  f"{audio_spec if kind == 'audio' else visual_spec} gives {encoder.feature_dim}: "
                                  f"pass the encoder the model was trained with (--{kind}-encoder)")
        if audio_encoder is None and inputs.audio_fbank:
            self.encoders.audio_input = AudioInput(**inputs.audio_fbank)
        self.decode = DecodeConfig(audio=self.encoders.audio is not None, visual=self.encoders.visual is not None,
                                   fps=inputs.fps, short_side=inputs.short_side, interpolation=inputs.interpolation,
                                   audio_input=self.encoders.audio_input, seq_len=self.model.config.seq_len)
        self.feat_norm = inputs.feat_norm
        self.encode_options = ExtractOptions(progress=False, bf16=bf16)
        self.model.to(self.device).eval()
        self.multi_label = inputs.multi_label
        self.top_k, self.batch_size = top_k, batch_size

    def predict(self, path: str | Path) -> ClipPrediction:
        """Predictions for one file; raises :class:`UAVMError` when nothing could be decoded."""
        result = next(self.predict_many([path]))
        if result.error:
            raise UAVMError(result.error)
        return result

    def predict_many(self, paths: Iterable[str | Path], progress: bool = False) -> Iterator[ClipPrediction]:
        """Predictions in input order; a file that fails gets ``error`` set and the others go on."""
        items = [ClipInput(Path(p).name, Path(p)) for p in paths]
        from tqdm.auto import tqdm

        bar = tqdm(total=len(items), desc="predict", unit="clip", disable=not progress)
        for start in range(0, len(items), self.batch_size):
            t0 = time.perf_counter()
            decoded = [decode_clip(item, self.decode) for item in items[start:start + self.batch_size]]
            t1 = time.perf_counter()
            features = encode_batch(decoded, self.encoders, self.encode_options)
            t2 = time.perf_counter()
            for clip, (audio, visual) in zip(decoded, features):
                t3 = time.perf_counter()
                result = self._classify(clip, audio, visual)
                result.seconds = {"decode_and_fbank": (t1 - t0) / len(decoded),
                                  "features": (t2 - t1) / len(decoded),
                                  "model": time.perf_counter() - t3}
                bar.update()
                yield result
        bar.close()

    @torch.inference_mode()
    def _classify(self, clip, audio, visual) -> ClipPrediction:
        result = ClipPrediction(printable(str(clip.item.path)))  # undecodable name bytes as \xNN
        problems = clip.problems
        if audio is None and visual is None:
            result.error = f"{result.path}: {describe_problems(problems)}"
            return result
        for modality, array in (("audio", audio), ("visual", visual)):
            if array is None:
                result.notes.append(f"{modality}: {describe_problems({modality: problems.get(modality, MISSING)})}")
        x = {m: None if a is None else self._input(a) for m, a in (("a", audio), ("v", visual))}
        if self.arch == "cross_attention":  # one view alone: the other modality's features set to zeros
            a = x["a"] if x["a"] is not None else torch.zeros_like(x["v"])
            v = x["v"] if x["v"] is not None else torch.zeros_like(x["a"])
            logits = {"a": self.model(a, torch.zeros_like(v)) if x["a"] is not None else None,
                      "v": self.model(torch.zeros_like(a), v) if x["v"] is not None else None}
            fused = self.model(a, v) if x["a"] is not None and x["v"] is not None else None
        else:
            logits = {m: None if t is None else self.model(t, m) for m, t in x.items()}
            fused = (logits["a"] + logits["v"]) / 2 if x["a"] is not None and x["v"] is not None else None
        result.audio = self._rank(logits["a"][0]) if logits["a"] is not None else None
        result.visual = self._rank(logits["v"][0]) if logits["v"] is not None else None
        result.fused = self._rank(fused[0]) if fused is not None else None
        return result

    def _input(self, features: np.ndarray) -> torch.Tensor:
        """One clip's features as the model saw them in training: ``[1, seq_len, D]``, normalised."""
        x = torch.from_numpy(pad_or_cut(features, self.model.config.seq_len)).float()[None]
        return (feat_norm(x) if self.feat_norm else x).to(self.device)

    def _rank(self, logits: torch.Tensor) -> Ranked:
        """Top-k classes; softmax for single-label models, sigmoid for multi-label (AudioSet) ones."""
        logits = logits.float().cpu()
        probs = logits.sigmoid() if self.multi_label else logits.softmax(-1)
        values, indices = probs.topk(min(self.top_k, len(probs)))
        return [(self.labels.names[i], float(v)) for v, i in zip(values, indices)]


def _recorded_spec(model: str, key: str, spec: str | None) -> str | None:
    """An encoder spec read from a model file; a URL there is refused (only URLs a user passes are fetched)."""
    if spec is not None and "://" in str(spec):
        flag = "--" + key.replace("_", "-")
        raise ConfigError(f"{model}: its recorded {key} is a URL ({spec}); uavm fetches only URLs given on the "
                          f"command line: pass {flag} {spec} if you trust it")
    return spec


def _load(spec: str | Path) -> nn.Module:
    if str(spec) in REGISTRY:
        return create_model(str(spec), pretrained=True)
    return load_model(spec)


def media_files(paths: Iterable[str | Path]) -> list[Path]:
    """Files named on a command line: files as given, folders expanded to their media files (sorted)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += media_in_folder(p)
        else:
            out.append(p)
    return out
