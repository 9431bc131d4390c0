"""Choosing the audio and visual encoders of an extraction from one spec string each.

A spec is a registry name (``audio_encoder_vggsound``, ``convnext_base_imagenet``
...), a checkpoint path or URL, ``random:<size>[:<seed>]`` (seeded random
weights, for offline tests and demos: the same spec gives the same weights), or
``none`` to skip that modality.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from ..features.audio_encoder import AudioEncoder
from ..features.convnext import SIZES
from ..features.fbank import FBANK_STATS
from ..features.visual_encoder import VisualEncoder
from ..registry import AUDIO_ENCODERS

DEFAULT_AUDIO = "audio_encoder_vggsound"
DEFAULT_VISUAL = "convnext_base_imagenet"
NONE = ("", "none", "off")


@dataclass
class AudioInput:
    """The fbank an audio encoder expects: frames per clip and normalisation statistics."""

    target_frames: int = 990
    norm_mean: float = FBANK_STATS["vggsound"][0]
    norm_std: float = FBANK_STATS["vggsound"][1]


@dataclass
class Encoders:
    """The encoders of an extraction (``None``: modality skipped) and how they were specified."""

    audio: AudioEncoder | None
    visual: VisualEncoder | None
    audio_input: AudioInput = field(default_factory=AudioInput)
    specs: dict[str, str] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        """The feature dimension both encoders share."""
        dims = {e.feature_dim for e in (self.audio, self.visual) if e is not None}
        if len(dims) != 1:
            raise ConfigError(f"the audio and visual encoders give different feature sizes {sorted(dims)}; "
                              "a store holds one size (choose encoders of the same ConvNeXt width)")
        return dims.pop()

    def to(self, device: torch.device | str) -> Encoders:
        """Move both encoders to ``device`` (in place); returns ``self``."""
        for encoder in (self.audio, self.visual):
            if encoder is not None:
                encoder.to(device).eval()
        return self

    def describe(self) -> dict[str, Any]:
        """What a store's metadata records about how its features were made."""
        out: dict[str, Any] = {"audio_encoder": self.specs.get("audio"), "visual_encoder": self.specs.get("visual")}
        if self.audio is not None:
            out["audio_fbank"] = vars(self.audio_input)
        return out


def resolve_encoders(audio_spec: str | None = DEFAULT_AUDIO, visual_spec: str | None = DEFAULT_VISUAL) -> Encoders:
    """Both encoders from their specs (see the module doc); at least one modality must remain."""
    audio = resolve_audio_encoder(audio_spec)
    visual = resolve_visual_encoder(visual_spec)
    if audio is None and visual is None:
        raise ConfigError("both encoders are 'none': nothing to extract")
    encoders = Encoders(audio, visual, audio_input_for(audio) if audio is not None else AudioInput(),
                        {"audio": str(audio_spec or "none"), "visual": str(visual_spec or "none")})
    encoders.dim  # noqa: B018 - raises early when the sizes disagree
    return encoders


def resolve_audio_encoder(spec: str | None) -> AudioEncoder | None:
    """An :class:`AudioEncoder` from a spec, ``None`` for ``none``."""
    return _resolve_encoder(spec, lambda size: AudioEncoder(size, num_classes=309, dataset="vggsound"),
                            AudioEncoder.from_checkpoint)


def resolve_visual_encoder(spec: str | None) -> VisualEncoder | None:
    """A :class:`VisualEncoder` from a spec, ``None`` for ``none``."""
    return _resolve_encoder(spec, VisualEncoder, VisualEncoder.from_checkpoint)


def _resolve_encoder(spec: str | None, build_random: Callable[[str], nn.Module],
                     load: Callable[[str], nn.Module]) -> Any:
    """``None`` for ``none``, seeded random weights for ``random:<size>[:<seed>]``, else ``load(spec)``."""
    if spec is None or spec.lower() in NONE:
        return None
    random = _random_spec(spec)
    if random is None:
        return load(spec).eval()
    size, seed = random
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_random(size).eval()


def audio_input_for(encoder: AudioEncoder) -> AudioInput:
    """The fbank length and statistics the encoder was trained with (VGGSound's when unknown)."""
    fbank = next((entry.fbank for entry in AUDIO_ENCODERS.values() if entry.dataset == encoder.dataset),
                 AUDIO_ENCODERS[DEFAULT_AUDIO].fbank)
    return AudioInput(fbank.target_frames, fbank.norm_mean, fbank.norm_std)


def _random_spec(spec: str) -> tuple[str, int] | None:
    if not spec.startswith("random:"):
        return None
    parts = spec.split(":")
    size = parts[1] if len(parts) > 1 else ""
    if size not in SIZES or len(parts) > 3:
        raise ConfigError(f"encoder spec {spec!r}: use random:<size>[:<seed>] with size one of {', '.join(SIZES)}")
    try:
        seed = int(parts[2]) if len(parts) == 3 else 0
    except ValueError:
        raise ConfigError(f"encoder spec {spec!r}: the seed must be an integer") from None
    return size, seed
