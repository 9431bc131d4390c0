"""Every named set of released weights: paper models, audio encoders, visual encoders.

One table (:data:`ENTRIES`) maps a name to its :class:`PretrainedCfg`: the kind of
network, where its weights come from and how its inputs are made (a model's
:class:`~uavm.feature_spec.FeatureSpec`, an audio encoder's
:class:`~uavm.feature_spec.FbankSpec`, a visual encoder's ImageNet normalisation).
:data:`REGISTRY`, :data:`AUDIO_ENCODERS` and :data:`VISUAL_ENCODERS` are the same
table seen one kind at a time. Files are fetched and cached by :mod:`uavm.weights`.
Importing this module does not import torch, so names can be listed cheaply.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .feature_spec import DEFAULT_VISUAL_ENCODER, FBANK_STATS, FbankSpec, FeatureSpec
from .model_config import ModelConfig

KINDS = ("model", "audio_encoder", "visual_encoder")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class PretrainedCfg:
    """A named set of weights: where they come from (``url``) and what they are."""

    kind: ClassVar[str] = ""
    name: str
    url: str
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (``uavm models --json``)."""
        return {"name": self.name, "kind": self.kind, "url": self.url, "description": self.description}


@dataclass(frozen=True)
class ModelCfg(PretrainedCfg):
    """A paper model: architecture, label set, and the features it was trained on."""

    kind: ClassVar[str] = "model"
    config: ModelConfig = field(default_factory=ModelConfig)
    dataset: str = "vggsound"  # label set: "vggsound" | "audioset"
    features: FeatureSpec = field(default_factory=FeatureSpec)
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def audio_encoder(self) -> str | None:
        """Registry name of the audio encoder its inputs come from."""
        return self.features.audio_encoder

    @property
    def visual_encoder(self) -> str | None:
        """Registry name of the visual encoder its inputs come from."""
        return self.features.visual_encoder

    def to_dict(self) -> dict[str, Any]:
        return {
            **super().to_dict(),
            "dataset": self.dataset,
            "audio_encoder": self.audio_encoder,
            "visual_encoder": self.visual_encoder,
            "metrics": dict(self.metrics),
            "config": self.config.to_dict(),
            "features": self.features.to_dict(),
        }


@dataclass(frozen=True)
class AudioEncoderCfg(PretrainedCfg):
    """A released ConvNeXt audio encoder and the log-mel input it expects."""

    kind: ClassVar[str] = "audio_encoder"
    dataset: str = "vggsound"  # its classes and fbank statistics
    num_classes: int = 309
    fbank: FbankSpec = field(default_factory=FbankSpec)  # target_frames: frames per clip when extracting
    train_frames: int = 1000
    size: str = "base"

    @property
    def extract_frames(self) -> int:
        """fbank frames per clip when extracting features (cut to the model's steps after)."""
        return self.fbank.target_frames

    @property
    def norm_stats(self) -> tuple[float, float]:
        """(mean, std) that normalise this encoder's log-mel input."""
        return self.fbank.norm_mean, self.fbank.norm_std

    def to_dict(self) -> dict[str, Any]:
        return {
            **super().to_dict(),
            "dataset": self.dataset,
            "num_classes": self.num_classes,
            "size": self.size,
            "audio_fbank": self.fbank.to_dict(),
            "train_frames": self.train_frames,
        }


@dataclass(frozen=True)
class VisualEncoderCfg(PretrainedCfg):
    """torchvision's ImageNet ConvNeXt of one size and its input normalisation."""

    kind: ClassVar[str] = "visual_encoder"
    size: str = "base"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "size": self.size, "mean": list(self.mean), "std": list(self.std)}


class KindView(MutableMapping):
    """The entries of one kind, read from and written to :data:`ENTRIES`."""

    def __init__(self, kind: str):
        self.kind = kind

    def __getitem__(self, name: str) -> Any:
        entry = ENTRIES[name]
        if entry.kind != self.kind:
            raise KeyError(name)
        return entry

    def __setitem__(self, name: str, entry: PretrainedCfg) -> None:
        if entry.kind != self.kind:
            raise TypeError(f"{name!r} is a {entry.kind} entry, not a {self.kind}")
        ENTRIES[name] = entry

    def __delitem__(self, name: str) -> None:
        if name not in self:
            raise KeyError(name)
        del ENTRIES[name]

    def __iter__(self) -> Iterator[str]:
        return (name for name, entry in list(ENTRIES.items()) if entry.kind == self.kind)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"KindView({self.kind!r}: {', '.join(self)})"


# ------------------------------------------------------------------ entries

_DROPBOX = "https://www.dropbox.com/s/"
_RUN = "lr{lr}-bs-144-balbal-mix0.5-ls1-ld0.5-lst1-lda{lda}-e1024-se1024-h4-di{di}-ds{ds}-asl30-vsl30-normTrue-feat2-a0.5-noiseTrue"
_CLASSES = {"vggsound": 309, "audioset": 527}
_EXTRACT_FRAMES = {"vggsound": 990, "audioset": 1000}  # 990 frames → 30 steps, 1000 → 31 (cut to 30)
_TORCHVISION = {  # torchvision's ConvNeXt IMAGENET1K_V1 files
    "tiny": "convnext_tiny-983f1562.pth",
    "small": "convnext_small-0c510722.pth",
    "base": "convnext_base-6075fbad.pth",
    "large": "convnext_large-ea097f82.pth",
}


def _audio_encoder(dataset: str, url: str) -> AudioEncoderCfg:
    mean, std = FBANK_STATS[dataset]
    return AudioEncoderCfg(
        name=f"audio_encoder_{dataset}",
        url=url,
        dataset=dataset,
        num_classes=_CLASSES[dataset],
        fbank=FbankSpec(target_frames=_EXTRACT_FRAMES[dataset], norm_mean=mean, norm_std=std),
        description=f"ConvNeXt-base audio encoder trained on {dataset} (reference release)",
    )


def _paper(arch: str, dataset: str, release: str, lr: str, lda: bool, run: str) -> ModelCfg:
    """A paper model; the reference's run name (part of its URL) is rebuilt from its hyper-parameters."""
    depth_i, depth_s = _DEPTHS[arch]
    config = ModelConfig(arch=arch, depth_i=depth_i, depth_s=depth_s, num_classes=_CLASSES[dataset])
    prefix = {"unified": "uavm", "independent": "independent", "cross_attention": "cross_attention"}[arch]
    url = _DROPBOX + release + _RUN.format(lr=lr, lda=lda, di=depth_i, ds=depth_s) + run + ".pth?dl=1"
    audio = _AUDIO[dataset]
    features = FeatureSpec(audio_encoder=audio.name, visual_encoder=DEFAULT_VISUAL_ENCODER, fbank=audio.fbank)
    return ModelCfg(
        name=f"{prefix}_{dataset}",
        url=url,
        description=f"{_DESCRIPTIONS[arch]}, {_TITLES[dataset]}",
        config=config,
        dataset=dataset,
        features=features,
        metrics=_METRICS.get((arch, dataset), {}),
    )


_AUDIO = {
    "vggsound": _audio_encoder("vggsound", _DROPBOX + "aduqm8m4gpjaygh/vgg_audio_feat.pth?dl=1"),
    "audioset": _audio_encoder("audioset", _DROPBOX + "ld2q0bsyiwzia86/as_audio_feat.pth?dl=1"),
}
_VISUAL = [
    VisualEncoderCfg(
        name=f"convnext_{size}_imagenet",
        url=f"https://download.pytorch.org/models/{_TORCHVISION[size]}",
        size=size,
        description=f"torchvision ConvNeXt-{size}, ImageNet-1k (IMAGENET1K_V1)",
    )
    for size in _TORCHVISION
]
# the released "independent" files hold the unified class with depth_s = 0 (same keys)
_DEPTHS = {"unified": (3, 3), "independent": (6, 0), "cross_attention": (3, 3)}
_DESCRIPTIONS = {
    "unified": "UAVM (3 modality-specific + 3 shared layers)",
    "independent": "modality-independent baseline (6 + 0 layers)",
    "cross_attention": "cross-modal attention (early fusion) baseline",
}
_TITLES = {"vggsound": "VGGSound", "audioset": "AudioSet-2M"}
_METRICS = {
    ("unified", "vggsound"): {"acc_a": 56.45, "acc_v": 50.03, "acc_av": 65.91},
    ("unified", "audioset"): {"mAP_a": 45.60, "mAP_v": 27.43, "mAP_av": 48.01},
}
_RELEASES = [  # (arch, dataset, Dropbox path up to the run name, learning rate, lda flag, run-name suffix)
    ("unified", "vggsound", "llvbyfokp4gxxwd/testfm66-vgg-unified_trans-", "5e-5", False, "-r1"),
    ("independent", "vggsound", "exde913yrqovesp/testfm66-vgg-unified_trans-", "5e-5", False, "-r1"),
    ("cross_attention", "vggsound", "twafscfsk3789gj/testfm75-vgg-full_att_trans-", "5e-5", True, "-r1"),
    ("unified", "audioset", "1gni463q67yx47z/testfm74-full-unified_trans-", "1e-5", False, "-r1"),
    ("independent", "audioset", "f690u566mgo8k2r/testfm74-full-unified_trans-", "1e-5", False, "-r1"),
    ("cross_attention", "audioset", "wlhul07vvcmu1y3/testfm74-full-full_att_trans-", "1e-5", False, ""),
]
_MODELS = [_paper(*release) for release in _RELEASES]

ENTRIES: dict[str, PretrainedCfg] = {entry.name: entry for entry in (*_MODELS, *_AUDIO.values(), *_VISUAL)}
REGISTRY = KindView("model")
AUDIO_ENCODERS = KindView("audio_encoder")
VISUAL_ENCODERS = KindView("visual_encoder")


# ------------------------------------------------------------------ lookups


def list_models() -> list[str]:
    """Names of the registered (paper) models."""
    return sorted(REGISTRY)


def list_names(kind: str | None = None) -> list[str]:
    """Registered names of one kind (``model``, ``audio_encoder``, ``visual_encoder``), or of all."""
    _check_kind(kind)
    return sorted(name for name, entry in ENTRIES.items() if kind is None or entry.kind == kind)


def find(name: str, kind: str | None = None) -> PretrainedCfg | None:
    """The entry named ``name`` (of ``kind``, when given), else ``None``."""
    entry = ENTRIES.get(str(name))
    return entry if entry is not None and (kind is None or entry.kind == kind) else None


def get_pretrained_cfg(name: str, kind: str | None = "model") -> PretrainedCfg:
    """The entry named ``name``; ValueError listing the known names of ``kind`` otherwise."""
    _check_kind(kind)
    entry = find(name, kind)
    if entry is None:
        what = (kind or "registry").replace("_", " ")
        raise ValueError(f"unknown {what} {name!r}; known: {', '.join(list_names(kind))}")
    return entry


def _check_kind(kind: str | None) -> None:
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
