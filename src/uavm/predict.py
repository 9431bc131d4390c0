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
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from .data.labels import LabelSet, labels_from_info, load_labels
from .data.transforms import feat_norm
from .errors import ConfigError, UAVMError, printable
from .extraction.extractor import ClipFeatures, FeatureExtractor
from .extraction.inputs import media_in_folder
from .feature_spec import FeatureSpec
from .hub import is_hub_name
from .modality import MODALITIES, NAMES, VIEW_NAMES, VIEWS
from .models import REGISTRY, create_model, load_model, read_model_info
from .models.views import view_logits
from .progress import progress_bar
from .sequence import pad_or_cut
from .weights import locate

if TYPE_CHECKING:
    from .timeline import Timeline

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
        for view in VIEW_NAMES:
            if out[view] is not None:
                out[view] = [{"label": name, "probability": round(p, 6)} for name, p in out[view]]
        return out


@dataclass
class ModelFacts:
    """What a model says about its inputs: how its features are made (``None``: not recorded) and its labels."""

    spec: FeatureSpec | None = None
    fbank_recorded: bool = False  # the spec's log-mel settings come from the model file
    labels: LabelSet | None = None
    feat_norm: bool = True  # L2-normalise each time step, as in training
    multi_label: bool = False  # sigmoid scores (AudioSet, BCE) instead of a softmax

    @classmethod
    def of(cls, model_spec: str | Path) -> ModelFacts:
        """What the registry or the checkpoint file says about ``model_spec``."""
        entry = REGISTRY.get(str(model_spec))
        if entry is not None:
            return cls(entry.features, labels=load_labels(entry.dataset), multi_label=entry.dataset == "audioset")
        if is_hub_name(model_spec):  # the model file (cached by the Hub client) says what it needs
            model_spec = locate(model_spec, "model")
        info = read_model_info(model_spec)
        recorded = any(info.get(k) is not None for k in ("audio_encoder", "visual_encoder"))
        spec = FeatureSpec.from_dict(info, f"{model_spec}: model info") if recorded else None
        return cls(
            spec,
            info.get("audio_fbank") is not None,
            labels_from_info(info),
            feat_norm=info["feat_norm"] if info.get("feat_norm") is not None else True,
            multi_label=info.get("loss") == "bce",
        )

    def encoder(self, modality: str) -> str | None:
        """The recorded encoder spec of ``modality`` (``"none"``: not used), ``None`` when not recorded."""
        if self.spec is None:
            return None
        return self.spec.to_dict()[f"{modality}_encoder"]


class Predictor:
    """Ranked predictions for media files with one model and its feature extractors.

    ``model``: a registered name (released weights, downloaded once), a checkpoint path,
    or a model object (then ``audio_encoder``, ``visual_encoder`` and ``labels`` are needed).
    Encoder specs are those of ``uavm extract`` (registry name, path, ``random:<size>:<seed>``).
    ``bf16`` runs the encoders in bfloat16 autocast (default: on a GPU only; use it on a CPU only
    where it has native bf16 instructions: elsewhere bf16 is emulated and several times slower).
    """

    def __init__(
        self,
        model: str | Path | nn.Module = "uavm_vggsound",
        *,
        audio_encoder: str | None = None,
        visual_encoder: str | None = None,
        labels: str | Path | None = None,
        top_k: int = 5,
        device: str = "auto",
        batch_size: int = 8,
        bf16: bool | None = None,
    ):
        facts = ModelFacts() if isinstance(model, nn.Module) else ModelFacts.of(model)
        self.model = model if isinstance(model, nn.Module) else _load(model)
        self.arch = self.model.config.arch
        name = "the model" if isinstance(model, nn.Module) else str(model)
        audio_spec = audio_encoder or _recorded_spec(name, "audio_encoder", facts.encoder("audio"))
        visual_spec = visual_encoder or _recorded_spec(name, "visual_encoder", facts.encoder("visual"))
        label_set = load_labels(labels) if labels is not None else facts.labels
        for what, value, flag in (
            ("audio encoder", audio_spec, "--audio-encoder"),
            ("visual encoder", visual_spec, "--visual-encoder"),
            ("label set", label_set, "--labels"),
        ):
            if value is None:
                raise ConfigError(f"{name}: does not say which {what} its inputs need; pass {flag}")
        self.labels: LabelSet = label_set
        if len(self.labels) != self.model.config.num_classes:
            raise ConfigError(
                f"{name}: {self.model.config.num_classes} classes, but the label set "
                f"{self.labels.source or '(embedded)'} has {len(self.labels)}"
            )
        spec = (facts.spec or FeatureSpec()).replace(
            audio_encoder=audio_spec, visual_encoder=visual_spec, seq_len=self.model.config.seq_len
        )
        # the model file's fbank settings hold unless another audio encoder is asked for
        self.extractor = FeatureExtractor(
            spec, device=device, bf16=bf16, encoder_fbank=audio_encoder is not None or not facts.fbank_recorded
        )
        for kind, encoder, key in (
            ("audio", self.extractor.encoders.audio, "a_input_dim"),
            ("visual", self.extractor.encoders.visual, "v_input_dim"),
        ):
            want = getattr(self.model.config, key, None)
            if encoder is not None and want is not None and encoder.feature_dim != want:
                raise ConfigError(
                    f"{name} takes {kind} features of width {want}, but the {kind} encoder "
                    f"{audio_spec if kind == 'audio' else visual_spec} gives {encoder.feature_dim}: "
                    f"pass the encoder the model was trained with (--{kind}-encoder)"
                )
        self.device = self.extractor.device
        self.feat_norm = facts.feat_norm
        self.model.to(self.device).eval()
        self.multi_label = facts.multi_label
        self.top_k, self.batch_size = top_k, batch_size

    def predict(self, path: str | Path) -> ClipPrediction:
        """Predictions for one file; raises :class:`UAVMError` when nothing could be decoded."""
        result = next(self.predict_many([path]))
        if result.error:
            raise UAVMError(result.error)
        return result

    def predict_many(self, paths: Iterable[str | Path], progress: bool = False) -> Iterator[ClipPrediction]:
        """Predictions in input order; a file that fails gets ``error`` set and the others go on."""
        paths = list(paths)
        bar = progress_bar(total=len(paths), desc="predict", unit="clip", enabled=progress)
        for clip in self.extractor.features_many(paths, self.batch_size):
            start = time.perf_counter()
            result = self._classify(clip)
            result.seconds = {**clip.seconds, "model": time.perf_counter() - start}
            bar.update()
            yield result
        bar.close()

    @torch.inference_mode()
    def _classify(self, clip: ClipFeatures) -> ClipPrediction:
        result = ClipPrediction(printable(str(clip.item.path)))  # undecodable name bytes as \xNN
        result.error = clip.error()
        if result.error:
            return result
        result.notes += clip.notes()
        arrays = dict(zip(MODALITIES, (clip.audio, clip.visual)))
        x = {m: None if a is None else self._input(a) for m, a in arrays.items()}
        logits = view_logits(self.model, x["a"], x["v"])
        for view in VIEWS:
            setattr(result, NAMES[view], self._rank(logits[view][0]) if logits[view] is not None else None)
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

    def timeline(self, path: str | Path, window: float = 10, hop: float = 5, progress: bool = False) -> Timeline:
        """A sliding-window timeline of ``path``: per window the three top-k lists and the
        audio-visual agreement (see :mod:`uavm.timeline`); the file is decoded once, streamed."""
        from .timeline import TimelineSource, timeline

        return timeline(TimelineSource.from_predictor(self), path, window=window, hop=hop, progress=progress)


def _recorded_spec(model: str, key: str, spec: str | None) -> str | None:
    """An encoder spec read from a model file; a remote one there (a URL or an ``hf-hub:`` name) is
    refused: uavm fetches only what a user names (registered names have their URLs in uavm itself)."""
    if spec is not None and ("://" in str(spec) or is_hub_name(spec)):
        flag = "--" + key.replace("_", "-")
        what = "a Hub name" if is_hub_name(spec) else "a URL"
        raise ConfigError(
            f"{model}: its recorded {key} is {what} ({spec}); uavm fetches only what is given on the "
            f"command line: pass {flag} {spec} if you trust it"
        )
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
