"""torchvision ConvNeXt backbones shared by the audio and visual encoders.

Sizes follow torchvision: the stem width and the depth of the third stage
identify a size from a state_dict, so checkpoints need no side information.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
import torchvision
from torch import nn

from ..errors import CheckpointError
from ..registry import VISUAL_ENCODERS, PretrainedCfg
from ..weights import locate, read_weights, save_weights

# size -> (stem width, blocks in stage 3)
SIZES: dict[str, tuple[int, int]] = {
    "tiny": (96, 9),
    "small": (96, 27),
    "base": (128, 27),
    "large": (192, 27),
}

TORCHVISION_FORMAT = "torchvision.convnext"


def imagenet_name(size: str) -> str:
    """Registry name of torchvision's ImageNet-1k ConvNeXt of ``size`` (a visual encoder)."""
    return f"convnext_{_check_size(size)}_imagenet"


def feature_dim(size: str) -> int:
    """Channels of the last stage (the feature dimension): 768 tiny/small, 1024 base, 1536 large."""
    return SIZES[_check_size(size)][0] * 8


def build_convnext(size: str = "base", num_classes: int = 1000) -> nn.Module:
    """A torchvision ConvNeXt of ``size`` with random weights."""
    factory = getattr(torchvision.models, f"convnext_{_check_size(size)}")
    return factory(weights=None, num_classes=num_classes)


def infer_size(state_dict: Mapping[str, torch.Tensor], prefix: str = "features.") -> str:
    """The ConvNeXt size whose shapes ``state_dict`` (keys under ``prefix``) holds."""
    stem = state_dict.get(f"{prefix}0.0.weight")
    if stem is None:
        raise CheckpointError(f"no ConvNeXt stem '{prefix}0.0.weight' in the state_dict")
    width = stem.shape[0]
    blocks = {key[len(f"{prefix}5.") :].split(".")[0] for key in state_dict if key.startswith(f"{prefix}5.")}
    depth = len(blocks)
    for size, (w, d) in SIZES.items():
        if (w, d) == (width, depth):
            return size
    raise CheckpointError(f"no ConvNeXt size has stem width {width} and {depth} blocks in stage 3")


def imagenet_state_dict(size: str = "base") -> dict[str, torch.Tensor]:
    """torchvision's ImageNet-1k weights for ``size`` (classifier included), cached once as safetensors."""
    state, _ = read_weights(locate(imagenet_name(size), "visual_encoder", convert_torchvision))
    return state


def convert_torchvision(entry: PretrainedCfg, released: Path, dest: Path) -> None:
    """Store a torchvision ConvNeXt state_dict (checked to be ``entry``'s size, RGB) as safetensors."""
    state, _ = read_weights(released)
    size = infer_size(state)
    stem = state["features.0.0.weight"]
    if size != getattr(entry, "size", size) or stem.shape[1] != 3:
        raise CheckpointError(
            f"{released}: a {stem.shape[1]}-channel ConvNeXt-{size}, "
            f"not the RGB ConvNeXt-{entry.size} {entry.name} names"
        )
    save_weights(dest, state, {"format": TORCHVISION_FORMAT, "size": size})


def _check_size(size: str) -> str:
    if size not in SIZES:
        raise ValueError(f"unknown ConvNeXt size {size!r}; choose one of {', '.join(SIZES)}")
    return size


# released ImageNet-1k weights of torchvision (IMAGENET1K_V1), by size
IMAGENET_URLS: dict[str, str] = {size: VISUAL_ENCODERS[imagenet_name(size)].url for size in SIZES}
