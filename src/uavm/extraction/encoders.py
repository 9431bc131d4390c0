"""Choosing the audio and visual encoders of an extraction from one spec string each.

A spec is a registry name (``audio_encoder_vggsound``, ``convnext_base_imagenet``
...), a checkpoint path or URL, ``random:<size>[:<seed>]`` (seeded random
weights, for offline tests and demos: the same spec gives the same weights), or
``none`` to skip that modality. The audio encoder decides its log-mel input
(:func:`audio_input_for`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import ConfigError
from ..feature_spec import DEFAULT_AUDIO_ENCODER, DEFAULT_VISUAL_ENCODER, NO_ENCODER, FbankSpec
from ..features.audio_encoder import AudioEncoder
from ..features.convnext import SIZES
from ..features.visual_encoder import VisualEncoder
from ..registry import AUDIO_ENCODERS


@dataclass
class Encoders:
    """The encoders of an extraction (``None``: modality skipped) and the log-mel input the audio one expects."""

    audio: AudioEncoder | None
    visual: VisualEncoder | None
    audio_input: FbankSpec = field(default_factory=FbankSpec)  # the log-mel input the audio encoder expects

    @property
    def dim(self) -> int:
        """The feature dimension both encoders share."""
        dims = {e.feature_dim for e in (self.audio, self.visual) if e is not None}
        if len(dims) != 1:
            raise ConfigError(
                f"the audio and visual encoders give different feature sizes {sorted(dims)}; "
                "a store holds one size (choose encoders of the same ConvNeXt width)"
            )
        return dims.pop()

    def to(self, device: torch.device | str) -> Encoders:
        """Move both encoders to ``device`` (in place); returns ``self``."""
        for encoder in (self.audio, self.visual):
            if encoder is not None:
                encoder.to(device).eval()
        return self


def resolve_encoders(
    audio_spec: str | None = DEFAULT_AUDIO_ENCODER, visual_spec: str | None = DEFAULT_VISUAL_ENCODER
) -> Encoders:
    """Both encoders from their specs (see the module doc); at least one modality must remain."""
    audio = resolve_audio_encoder(audio_spec)
    visual = resolve_visual_encoder(visual_spec)
    if audio is None and visual is None:
        raise ConfigError("both encoders are 'none': nothing to extract")
    encoders = Encoders(audio, visual, audio_input_for(audio) if audio is not None else FbankSpec())
    encoders.dim  # noqa: B018 - raises early when the sizes disagree
    return encoders


def resolve_audio_encoder(spec: str | None) -> AudioEncoder | None:
    """An :class:`AudioEncoder` from a spec, ``None`` for ``none``."""
    return _resolve(spec, AudioEncoder, lambda size: AudioEncoder(size, num_classes=309, dataset="vggsound"))


def resolve_visual_encoder(spec: str | None) -> VisualEncoder | None:
    """A :class:`VisualEncoder` from a spec, ``None`` for ``none``."""
    return _resolve(spec, VisualEncoder, VisualEncoder)


def _resolve(spec: str | None, kind: type, make_random: Callable[[str], torch.nn.Module]) -> Any:
    """``None`` for ``none``; seeded random weights for ``random:<size>[:<seed>]``; else ``kind.from_checkpoint``."""
    if spec is None or spec.lower() in NO_ENCODER:
        return None
    random = _random_spec(spec)
    if random is None:
        return kind.from_checkpoint(spec).eval()
    size, seed = random
    with torch.random.fork_rng(devices=[]):  # the caller's random stream is left as it was
        torch.manual_seed(seed)
        return make_random(size).eval()


def audio_input_for(encoder: AudioEncoder) -> FbankSpec:
    """The fbank length and statistics the encoder was trained with (VGGSound's when unknown)."""
    entry = next(
        (e for e in AUDIO_ENCODERS.values() if e.dataset == encoder.dataset), AUDIO_ENCODERS[DEFAULT_AUDIO_ENCODER]
    )
    return entry.fbank


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
