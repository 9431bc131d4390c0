"""The ConvNeXt audio encoder: log-mel spectrogram in, feature sequence or logits out.

A torchvision ConvNeXt whose 3-channel 4×4 stem is replaced by a 1-channel one;
the spectrogram ``[B, frames, 128]`` is seen as a one-channel image ``[B, 1, 128
mel, frames]``. ``encode`` averages the last stage over frequency: ``[B, frames /
32, D]`` (990 frames → 30 steps, 1000 → 31). The reference's released encoders
(``vgg_audio_feat.pth``, ``as_audio_feat.pth``) load by registry name
(:data:`uavm.registry.AUDIO_ENCODERS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from ..errors import CheckpointError
from ..registry import PretrainedCfg
from ..weights import build_loaded, locate, read_weights, save_weights
from .convnext import SIZES, build_convnext, feature_dim, imagenet_state_dict, infer_size
from .filterbank import FBANK_STATS

FORMAT = "uavm.audio_encoder"
STEM = "features.0.0.weight"
HEAD = "classifier.2.weight"


class AudioEncoder(nn.Module):
    """torchvision ConvNeXt with a 1-channel stem, on normalised log-mel input ``[B, frames, bins]``.

    Keeps torchvision's module names (``features``, ``avgpool``, ``classifier``),
    so a state_dict reads like torchvision's. ``dataset`` names the fbank
    statistics the weights expect (:data:`uavm.features.filterbank.FBANK_STATS`), when known.
    """

    def __init__(self, size: str = "base", num_classes: int = 309, dataset: str | None = None):
        super().__init__()
        net = build_convnext(size, num_classes)
        width = SIZES[size][0]
        stem = nn.Conv2d(1, width, kernel_size=4, stride=4)
        nn.init.trunc_normal_(stem.weight, std=0.02)  # torchvision's ConvNeXt init
        nn.init.zeros_(stem.bias)
        net.features[0][0] = stem
        self.features = net.features
        self.avgpool = net.avgpool
        self.classifier = net.classifier
        self.size = size
        self.num_classes = num_classes
        self.dataset = dataset

    @property
    def feature_dim(self) -> int:
        """D of ``encode``'s output: 768 tiny/small, 1024 base, 1536 large."""
        return feature_dim(self.size)

    @property
    def norm_stats(self) -> tuple[float, float] | None:
        """(mean, std) of the fbank normalisation these weights expect, if known."""
        return FBANK_STATS.get(self.dataset) if self.dataset else None

    @staticmethod
    def _as_image(fbank: torch.Tensor) -> torch.Tensor:
        if fbank.dim() != 3:
            raise ValueError(f"expected a log-mel batch [B, frames, bins], got shape {tuple(fbank.shape)}")
        return fbank.unsqueeze(1).transpose(2, 3)

    def encode(self, fbank: torch.Tensor) -> torch.Tensor:
        """Feature sequence ``[B, frames // 32, D]``: last ConvNeXt stage, mean over frequency."""
        maps = self.features(self._as_image(fbank))
        return maps.mean(dim=2).transpose(1, 2)

    def classify(self, fbank: torch.Tensor) -> torch.Tensor:
        """Class logits ``[B, num_classes]``."""
        return self.classifier(self.avgpool(self.features(self._as_image(fbank))))

    def forward(self, fbank: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`classify` (what training optimises)."""
        return self.classify(fbank)

    # ----------------------------------------------------------------- weights

    @classmethod
    def from_imagenet(cls, size: str = "base", num_classes: int = 309, dataset: str | None = None) -> AudioEncoder:
        """Training initialisation: torchvision's ImageNet weights, RGB stem kernels summed to one channel.

        The classifier Linear keeps its fresh initialisation (the class count differs).
        """
        state = dict(imagenet_state_dict(size))
        state[STEM] = state[STEM].sum(dim=1, keepdim=True)
        for key in ("classifier.2.weight", "classifier.2.bias"):
            state.pop(key, None)
        model = cls(size, num_classes, dataset)
        missing, unexpected = model.load_state_dict(state, strict=False)
        if unexpected or set(missing) != {"classifier.2.weight", "classifier.2.bias"}:
            raise CheckpointError(
                f"ImageNet ConvNeXt-{size} weights do not fit (missing {missing}, unexpected {unexpected})"
            )
        return model

    @classmethod
    def from_state_dict(
        cls, state: Mapping[str, torch.Tensor], dataset: str | None = None, source: str = "state_dict"
    ) -> AudioEncoder:
        """Build from torchvision-style, reference (``module.model.0...``) or our own keys; sizes read off the shapes."""
        state = canonical_state_dict(state, source)
        size = infer_size(state)
        if state[STEM].shape[1] != 1:
            raise CheckpointError(
                f"{source}: the stem takes {state[STEM].shape[1]} channels, not 1 (an image model? "
                "use AudioEncoder.from_imagenet for ImageNet initialisation)"
            )
        if HEAD not in state:
            raise CheckpointError(f"{source}: no classifier weight '{HEAD}'")
        return build_loaded(
            lambda: cls(size, int(state[HEAD].shape[0]), dataset), state, source, f"ConvNeXt-{size} audio encoder"
        )

    @classmethod
    def from_checkpoint(cls, path_or_name: str | Path, map_location: str | torch.device = "cpu") -> AudioEncoder:
        """Load a registered name (:data:`uavm.registry.AUDIO_ENCODERS`), a URL, a reference ``.pth``
        or our ``.safetensors``.

        A registered encoder is downloaded once and kept in the cache converted to
        safetensors (:func:`uavm.weights.locate`).
        """
        path = locate(path_or_name, "audio_encoder", _convert_released)
        state, metadata = read_weights(path)
        model = cls.from_state_dict(state, dataset=metadata.get("dataset") or None, source=str(path))
        return model.to(map_location)

    def save(self, path: str | Path) -> Path:
        """Write the weights as safetensors (atomically) with the size, classes and dataset as metadata."""
        metadata = {
            "format": FORMAT,
            "size": self.size,
            "num_classes": str(self.num_classes),
            "dataset": self.dataset or "",
        }
        return save_weights(path, self.state_dict(), metadata)


def canonical_state_dict(state: Mapping[str, torch.Tensor], source: str = "state_dict") -> dict[str, torch.Tensor]:
    """Keys renamed to torchvision's: ``module.`` dropped, the reference's ``model.0`` / ``model.2`` → ``features`` / ``classifier``."""
    renamed: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{source}: entry {key!r} is not a tensor")
        name = key.removeprefix("module.")
        if name.startswith("model.0."):
            name = "features." + name[len("model.0.") :]
        elif name.startswith("model.2."):
            name = "classifier." + name[len("model.2.") :]
        renamed[name] = value
    if STEM not in renamed:
        raise CheckpointError(f"{source}: not an audio-encoder checkpoint (no ConvNeXt stem weight)")
    return renamed


def _convert_released(entry: PretrainedCfg, released: Path, dest: Path) -> None:
    """A released encoder file → our safetensors file, with the entry's dataset recorded."""
    state, _ = read_weights(released)
    AudioEncoder.from_state_dict(state, dataset=getattr(entry, "dataset", None), source=str(released)).save(dest)
