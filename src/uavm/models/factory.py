"""Making model objects: from a config, from a checkpoint file, from a registered name.

``create_model("uavm_vggsound", pretrained=True)`` builds the paper model and loads the
reference's released checkpoint (downloaded once into the cache and converted to
safetensors, see :mod:`uavm.weights`); ``create_model("unified", depth_s=2, ...)``
builds an architecture. Models whose weights are loaded are built on the meta
device, so no time goes into a random initialisation that loading would overwrite.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from ..errors import CheckpointError
from ..hub import is_hub_name
from ..model_config import ARCHS, ModelConfig
from ..registry import REGISTRY, PretrainedCfg, list_models
from ..weights import build_loaded, locate
from .checkpoint import check_keys, read_checkpoint, save_model


def model_class(arch: str) -> type[nn.Module]:
    """The module class implementing ``arch``."""
    from .cross_attention import CrossAttentionModel
    from .unified import IndependentModel, UnifiedModel

    classes = {"unified": UnifiedModel, "independent": IndependentModel, "cross_attention": CrossAttentionModel}
    return classes[arch]


def build_model(config: ModelConfig) -> nn.Module:
    """A randomly initialised model for ``config``."""
    return model_class(config.arch)(config)


def load_model(path: str | Path, arch: str | None = None, num_heads: int | None = None) -> nn.Module:
    """Load a reference ``.pth``, a uavm safetensors file, a URL or a registered name (eval mode).

    ``arch`` overrides the architecture read off the keys (needed only to tell a
    cross-attention model with depth_i = 0 from a unified one when the file name does
    not say); ``num_heads`` defaults to the file name's ``-hN-`` or 4.
    """
    path = locate(path, "model", _convert_released)
    state, config = read_checkpoint(path, arch=arch, num_heads=num_heads)
    model = build_loaded(
        lambda: build_model(config),
        state,
        str(path),
        f"{config.arch} model",
        check=lambda empty: check_keys(path, empty, state),
    )
    return model.eval()


def create_model(name_or_arch: str, pretrained: bool | str | Path = False, **overrides: Any) -> nn.Module:
    """Build a registered model or an architecture, or load a Hub model (``hf-hub:ORG/NAME``).

    ``pretrained``: False (random weights), True (a registered model's released weights,
    downloaded into the cache), or a path / URL of a checkpoint whose sizes must match.
    ``overrides`` change config fields (e.g. ``num_classes=10``, ``depth_s=2``).
    """
    if is_hub_name(name_or_arch):  # hf-hub:ORG/NAME: a trained model, weights always loaded
        if overrides or pretrained not in (False, True, None):
            raise ValueError(f"{name_or_arch}: a Hub model is loaded as it is (no overrides, no other weights)")
        return load_model(name_or_arch)
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
    if pretrained is True:
        if entry is None:
            raise ValueError(f"{name_or_arch!r} is an architecture, it has no released weights; pass a path")
        source: str | Path = name_or_arch
    else:
        source = pretrained
    model = load_model(source, arch=config.arch, num_heads=config.num_heads)
    if model.config != config:
        raise CheckpointError(
            f"{source}: checkpoint config {model.config.to_dict()} differs from the requested {config.to_dict()}"
        )
    return model


def convert(src: str | Path, dest: str | Path, arch: str | None = None, num_heads: int | None = None) -> Path:
    """Convert a reference ``.pth`` (or any loadable checkpoint) to a uavm safetensors file."""
    return save_model(load_model(src, arch=arch, num_heads=num_heads), dest)


def _convert_released(entry: PretrainedCfg, released: Path, dest: Path) -> None:
    """How a registered model's released file becomes its cached safetensors file."""
    convert(released, dest, arch=entry.config.arch, num_heads=entry.config.num_heads)
