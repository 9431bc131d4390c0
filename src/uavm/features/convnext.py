"""torchvision ConvNeXt backbones shared by the audio and visual encoders.

Sizes follow torchvision: the stem width and the depth of the third stage
identify a size from a state_dict, so checkpoints need no side information.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torchvision
from torch import nn

from ..errors import CheckpointError

# size -> (stem width, blocks in stage 3)
SIZES: dict[str, tuple[int, int]] = {
    "tiny": (96, 9),
    "small": (96, 27),
    "base": (128, 27),
    "large": (192, 27),
}

# released ImageNet-1k weights of torchvision (IMAGENET1K_V1), by size
IMAGENET_URLS: dict[str, str] = {
    size: getattr(torchvision.models, f"ConvNeXt_{size.capitalize()}_Weights").IMAGENET1K_V1.url
    for size in SIZES
}


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
    blocks = {
        key[len(f"{prefix}5."):].split(".")[0]
        for key in state_dict
        if key.startswith(f"{prefix}5.")
    }
    depth = len(blocks)
    for size, (w, d) in SIZES.items():
        if (w, d) == (width, depth):
            return size
    raise CheckpointError(f"no ConvNeXt size has stem width {width} and {depth} blocks in stage 3")


def imagenet_state_dict(size: str = "base") -> dict[str, torch.Tensor]:
    """torchvision's ImageNet-1k weights for ``size``, fetched once into the uavm cache."""
    from ..hub import download

    path = download(IMAGENET_URLS[_check_size(size)])
    from ..torch_files import load_tensors_only

    return load_tensors_only(path, what="ConvNeXt checkpoint")


def _check_size(size: str) -> str:
    if size not in SIZES:
        raise ValueError(f"unknown ConvNeXt size {size!r}; choose one of {', '.join(SIZES)}")
    return size
