"""Named models with their released weights and the feature extractors they were trained on.

``create_model("uavm_vggsound", pretrained=True)`` builds the paper model and loads the
reference's released checkpoint (downloaded once into the cache and converted to
safetensors); ``create_model("unified", depth_s=2, ...)`` builds an architecture.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from ..errors import CheckpointError
from .config import ARCHS, ModelConfig

_DROPBOX = "https://www.dropbox.com/s/"
_RUN = "lr{lr}-bs-144-balbal-mix0.5-ls1-ld0.5-lst1-lda{lda}-e1024-se1024-h4-di{di}-ds{ds}-asl30-vsl30-normTrue-feat2-a0.5-noiseTrue"


@dataclass(frozen=True)
class PretrainedCfg:
    """A registered model: its architecture, released weights and matching feature extractors."""

    name: str
    config: ModelConfig
    dataset: str  # label set: "vggsound" | "audioset"
    url: str
    audio_encoder: str  # registry name in uavm.features.audio_encoder
    visual_encoder: str = "convnext_base_imagenet"
    description: str = ""
    metrics: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "dataset": self.dataset, "url": self.url, "audio_encoder": self.audio_encoder,
            "visual_encoder": self.visual_encoder, "description": self.description, "metrics": dict(self.metrics),
            "config": self.config.to_dict(),
        }


def _paper(arch: str, dataset: str, depth_i: int, depth_s: int, url: str, description: str,
           metrics: dict[str, float]) -> PretrainedCfg:
    classes = {"vggsound": 309, "audioset": 527}[dataset]
    config = ModelConfig(arch=arch, depth_i=depth_i, depth_s=depth_s, num_classes=classes)
    prefix = {"unified": "uavm", "independent": "independent", "cross_attention": "cross_attention"}[arch]
    return PretrainedCfg(
        name=f"{prefix}_{dataset}", config=config, dataset=dataset, url=url,
        audio_encoder=f"audio_encoder_{dataset}", description=description, metrics=metrics,
    )


_ENTRIES = [
    _paper("unified", "vggsound", 3, 3,
           _DROPBOX + "llvbyfokp4gxxwd/testfm66-vgg-unified_trans-" + _RUN.format(lr="5e-5", lda="False", di=3, ds=3)
           + "-r1.pth?dl=1",
           "UAVM (3 modality-specific + 3 shared layers), VGGSound",
           {"acc_a": 56.45, "acc_v": 50.03, "acc_av": 65.91}),
    # the released "independent" files hold the unified class with depth_s = 0 (same keys)
    _paper("independent", "vggsound", 6, 0,
           _DROPBOX + "exde913yrqovesp/testfm66-vgg-unified_trans-" + _RUN.format(lr="5e-5", lda="False", di=6, ds=0)
           + "-r1.pth?dl=1",
           "modality-independent baseline (6 + 0 layers), VGGSound", {}),
    _paper("cross_attention", "vggsound", 3, 3,
           _DROPBOX + "twafscfsk3789gj/testfm75-vgg-full_att_trans-" + _RUN.format(lr="5e-5", lda="True", di=3, ds=3)
           + "-r1.pth?dl=1",
           "cross-modal attention (early fusion) baseline, VGGSound", {}),
    _paper("unified", "audioset", 3, 3,
           _DROPBOX + "1gni463q67yx47z/testfm74-full-unified_trans-" + _RUN.format(lr="1e-5", lda="False", di=3, ds=3)
           + "-r1.pth?dl=1",
           "UAVM (3 modality-specific + 3 shared layers), AudioSet-2M",
           {"mAP_a": 45.60, "mAP_v": 27.43, "mAP_av": 48.01}),
    _paper("independent", "audioset", 6, 0,
           _DROPBOX + "f690u566mgo8k2r/testfm74-full-unified_trans-" + _RUN.format(lr="1e-5", lda="False", di=6, ds=0)
           + "-r1.pth?dl=1",
           "modality-independent baseline (6 + 0 layers), AudioSet-2M", {}),
    _paper("cross_attention", "audioset", 3, 3,
           _DROPBOX + "wlhul07vvcmu1y3/testfm74-full-full_att_trans-" + _RUN.format(lr="1e-5", lda="False", di=3, ds=3)
           + ".pth?dl=1",
           "cross-modal attention (early fusion) baseline, AudioSet-2M", {}),
]
REGISTRY: dict[str, PretrainedCfg] = {entry.name: entry for entry in _ENTRIES}


def list_models() -> list[str]:
    """Names of the registered (paper) models."""
    return sorted(REGISTRY)


def get_pretrained_cfg(name: str) -> PretrainedCfg:
    """The registry entry of ``name``; ValueError listing the known names otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(list_models())}") from None


def model_class(arch: str) -> type[nn.Module]:
    """The module class implementing ``arch``."""
    from .cross_attention import CrossAttentionModel
    from .unified import IndependentModel, UnifiedModel

    classes = {"unified": UnifiedModel, "independent": IndependentModel, "cross_attention": CrossAttentionModel}
    return classes[arch]


def build_model(config: ModelConfig) -> nn.Module:
    """A randomly initialised model for ``config``."""
    return model_class(config.arch)(config)


def create_model(name_or_arch: str, pretrained: bool | str | Path = False, **overrides: Any) -> nn.Module:
    """Build a registered model or an architecture.

    ``pretrained``: False (random weights), True (a registered model's released weights,
    downloaded into the cache), or a path / URL of a checkpoint whose sizes must match.
    ``overrides`` change config fields (e.g. ``num_classes=10``, ``depth_s=2``).
    """
    entry = REGISTRY.get(name_or_arch)
    if entry is not None:
        config = entry.config.replace(**overrides)
    elif name_or_arch in ARCHS:
        config = ModelConfig(arch=name_or_arch, **overrides)
    else:
        raise ValueError(
            f"unknown model {name_or_arch!r}; use an architecture ({', '.join(ARCHS)}) "
            f"or a registered name ({', '.join(list_models())})"
        )
    if pretrained is False or pretrained is None:
        return build_model(config)
    from .checkpoint import load_model, pretrained_path

    if pretrained is True:
        if entry is None:
            raise ValueError(f"{name_or_arch!r} is an architecture, it has no released weights; pass a path")
        source = pretrained_path(entry)
    else:
        source = pretrained
    model = load_model(source, arch=config.arch, num_heads=config.num_heads)
    if model.config != config:
        raise CheckpointError(
            f"{source}: checkpoint config {model.config.to_dict()} differs from the requested {config.to_dict()}"
        )
    return model
