"""The visual feature extractor: ImageNet ConvNeXt, one vector per video frame.

Each uint8 RGB frame is scaled to [0, 1], normalised with the ImageNet mean and
standard deviation (the reference divides by ``std + 1e-8``), passed through the
ConvNeXt ``features`` (no pooling head, no classifier) and averaged over height
and width: ``[T, H, W, 3]`` frames → ``[T, D]`` features (D = 1024 for base).
Frames of any size work; the reference fed 224-short-side frames uncropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from ..errors import CheckpointError
from ..registry import IMAGENET_MEAN, IMAGENET_STD
from ..weights import build_loaded, locate, read_weights, save_weights
from .convnext import build_convnext, convert_torchvision, feature_dim, infer_size

FORMAT = "uavm.visual_encoder"
STD_EPS = 1e-8


class VisualEncoder(nn.Module):
    """torchvision ConvNeXt ``features`` + spatial mean; ``VisualEncoder(size)`` has random weights.

    Keeps torchvision's module name ``features``, so its state_dict keys read
    like torchvision's (``features.0.0.weight`` ...).
    """

    def __init__(self, size: str = "base"):
        super().__init__()
        self.features = build_convnext(size).features
        self.size = size
        # not in the state_dict: made on the CPU even when the weights are built on the meta device
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN, device="cpu").view(1, 3, 1, 1), persistent=False)
        self.register_buffer(
            "std", torch.tensor(IMAGENET_STD, device="cpu").view(1, 3, 1, 1) + STD_EPS, persistent=False
        )
        self.eval()

    @property
    def feature_dim(self) -> int:
        """D of the output: 768 tiny/small, 1024 base, 1536 large."""
        return feature_dim(self.size)

    @property
    def device(self) -> torch.device:
        """Where the weights live."""
        return self.mean.device

    def normalize(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 ``[T, H, W, 3]`` → float ``[T, 3, H, W]`` in ImageNet normalisation."""
        if frames.dim() != 4 or frames.shape[-1] != 3:
            raise ValueError(f"expected RGB frames [T, H, W, 3], got shape {tuple(frames.shape)}")
        x = frames.to(self.device, non_blocking=True).permute(0, 3, 1, 2).float() / 255.0
        return (x - self.mean) / self.std

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised images ``[B, 3, H, W]`` → features ``[B, D]`` (mean of the last stage over H, W)."""
        return self.features(images).mean(dim=(2, 3))

    @torch.inference_mode()
    def encode(self, frames: torch.Tensor, batch_size: int = 64, bf16: bool | None = None) -> torch.Tensor:
        """uint8 frames ``[T, H, W, 3]`` → float32 features ``[T, D]`` on CPU, ``batch_size`` frames at a time.

        ``bf16`` runs the network in bfloat16 autocast with channels-last memory
        (default: on a GPU only; on a CPU with native bf16 it is faster too, at
        about 1e-2 relative error).
        """
        if frames.shape[0] == 0:
            return torch.zeros(0, self.feature_dim)
        fast = self.device.type == "cuda" if bf16 is None else bf16
        if fast:
            self.to(memory_format=torch.channels_last)
        out = []
        for start in range(0, frames.shape[0], batch_size):
            x = self.normalize(frames[start : start + batch_size])
            if fast:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=fast):
                out.append(self(x).float().cpu())
        return torch.cat(out)

    # ----------------------------------------------------------------- weights

    @classmethod
    def from_state_dict(cls, state: Mapping[str, torch.Tensor], source: str = "state_dict") -> VisualEncoder:
        """Build from torchvision ConvNeXt keys (``features.*``; a classifier, ``module.`` prefixes are ignored)."""
        state = {k.removeprefix("module."): v for k, v in state.items()}
        features = {k: v for k, v in state.items() if k.startswith("features.")}
        if not features:
            raise CheckpointError(f"{source}: not a ConvNeXt checkpoint (no 'features.*' weights)")
        size = infer_size(features)
        stem = features["features.0.0.weight"]
        if stem.shape[1] != 3:
            raise CheckpointError(f"{source}: the stem takes {stem.shape[1]} channels, not 3 (an audio encoder?)")
        return build_loaded(lambda: cls(size), features, source, f"ConvNeXt-{size}")

    @classmethod
    def from_checkpoint(cls, path_or_name: str | Path, map_location: str | torch.device = "cpu") -> VisualEncoder:
        """A registered name (``convnext_<size>_imagenet``: torchvision's ImageNet weights, cached),
        a URL, a torchvision state_dict ``.pth`` or our ``.safetensors``."""
        path = locate(path_or_name, "visual_encoder", convert_torchvision)
        state, _ = read_weights(path)
        return cls.from_state_dict(state, source=str(path)).to(map_location)

    def save(self, path: str | Path) -> Path:
        """Write the weights as safetensors (atomically), with the size as metadata."""
        return save_weights(path, self.state_dict(), {"format": FORMAT, "size": self.size})
