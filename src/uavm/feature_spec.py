"""How features are made, as one serialisable value: :class:`FeatureSpec`.

A spec names the audio and visual encoders, the log-mel settings the audio encoder
expects, how video frames are sampled and sized, and how many time steps a clip keeps.
An extraction writes its spec into the feature store's manifest, training copies it
into the model file, and prediction reads it back, so a clip is always turned into
features the way the model was trained on. The dictionary form keeps the keys older
stores and model files were written with (``audio_fbank``, ``fps``, ...), so those load.
Importing this module does not import torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from .errors import ConfigError

# the released VGGSound audio encoder's input: 990 frames → 30 steps, normalised with VGGSound's statistics
DEFAULT_AUDIO_ENCODER = "audio_encoder_vggsound"
DEFAULT_VISUAL_ENCODER = "convnext_base_imagenet"
NO_ENCODER = ("", "none", "off")
INTERPOLATIONS = ("bicubic", "bilinear")
# (mean, std) of the log-mel features of each dataset, which released audio encoders were trained on
FBANK_STATS: dict[str, tuple[float, float]] = {
    "vggsound": (-5.081, 4.4849),
    "audioset": (-4.2677, 4.5690),
}


@dataclass(frozen=True)
class FbankSpec:
    """The log-mel input of an audio encoder: frames per clip and the normalisation statistics."""

    target_frames: int = 990
    norm_mean: float = FBANK_STATS["vggsound"][0]
    norm_std: float = FBANK_STATS["vggsound"][1]
    sample_rate: int = 16000
    num_mel_bins: int = 128

    def to_dict(self) -> dict[str, Any]:
        """Only the keys that differ from what every uavm file assumes are written for rate and bins."""
        out = {"target_frames": self.target_frames, "norm_mean": self.norm_mean, "norm_std": self.norm_std}
        if self.sample_rate != 16000:
            out["sample_rate"] = self.sample_rate
        if self.num_mel_bins != 128:
            out["num_mel_bins"] = self.num_mel_bins
        return out

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], source: str = "feature settings") -> FbankSpec:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(doc) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown fbank setting {unknown[0]!r} (known: {', '.join(sorted(known))})")
        try:
            spec = cls(**{k: _typed(k, v, source, f"fbank.{k}") for k, v in doc.items()})
        except TypeError as exc:
            raise ConfigError(f"{source}: invalid fbank settings ({exc})") from None
        return spec.validate(source)

    def validate(self, source: str = "feature settings") -> FbankSpec:
        if self.target_frames < 32:
            raise ConfigError(f"{source}: fbank target_frames must be at least 32, got {self.target_frames}")
        if not self.norm_std > 0:
            raise ConfigError(f"{source}: fbank norm_std must be positive, got {self.norm_std}")
        if self.sample_rate < 1000 or self.num_mel_bins < 1:
            raise ConfigError(f"{source}: fbank sample_rate / num_mel_bins out of range")
        return self


@dataclass(frozen=True)
class FeatureSpec:
    """Everything that decides a clip's features (the defaults are the paper's).

    ``audio_encoder`` / ``visual_encoder`` are encoder specs (a registry name, a
    checkpoint path or URL, ``random:<size>[:<seed>]``), ``None`` when that modality
    is not extracted. ``fps`` frames per second are taken from the video, scaled so
    their short side is ``short_side`` pixels with ``interpolation``; a clip keeps
    ``seq_len`` time steps per modality.
    """

    audio_encoder: str | None = DEFAULT_AUDIO_ENCODER
    visual_encoder: str | None = DEFAULT_VISUAL_ENCODER
    fbank: FbankSpec = field(default_factory=FbankSpec)
    fps: float = 3
    short_side: int = 224
    interpolation: str = "bicubic"
    seq_len: int = 30

    def __post_init__(self) -> None:
        for name in ("audio_encoder", "visual_encoder"):
            value = getattr(self, name)
            if value is not None and str(value).lower() in NO_ENCODER:
                object.__setattr__(self, name, None)

    @property
    def audio(self) -> bool:
        """Whether audio features are made."""
        return self.audio_encoder is not None

    @property
    def visual(self) -> bool:
        """Whether visual features are made."""
        return self.visual_encoder is not None

    @property
    def seconds(self) -> float:
        """Media seconds one clip's visual sequence covers (``seq_len / fps``: 10 s for the paper)."""
        return self.seq_len / self.fps

    def replace(self, **changes: Any) -> FeatureSpec:
        """A copy with some fields changed (validated)."""
        return replace(self, **changes).validate()

    def validate(self, source: str = "feature settings") -> FeatureSpec:
        """``self`` when every field is in range, else a one-line :class:`ConfigError`."""
        if not (isinstance(self.fps, (int, float)) and 0 < self.fps <= 120):
            raise ConfigError(f"{source}: fps must be in (0, 120], got {self.fps!r}")
        if not (isinstance(self.short_side, int) and 8 <= self.short_side <= 4096):
            raise ConfigError(f"{source}: short_side must be an integer in 8..4096, got {self.short_side!r}")
        if self.interpolation not in INTERPOLATIONS:
            raise ConfigError(
                f"{source}: interpolation must be one of {', '.join(INTERPOLATIONS)}, got {self.interpolation!r}"
            )
        if not (isinstance(self.seq_len, int) and self.seq_len >= 1):
            raise ConfigError(f"{source}: seq_len must be a positive integer, got {self.seq_len!r}")
        if self.audio_encoder is None and self.visual_encoder is None:
            raise ConfigError(f"{source}: both encoders are 'none': nothing to extract")
        self.fbank.validate(source)
        return self

    # --------------------------------------------------------------- files

    def to_dict(self) -> dict[str, Any]:
        """The spec as stored in a store manifest and a model's info (the keys older files used).

        A modality that is not extracted is written ``"none"``, as older files did.
        """
        out: dict[str, Any] = {
            "audio_encoder": self.audio_encoder or NO_ENCODER[1],
            "visual_encoder": self.visual_encoder or NO_ENCODER[1],
        }
        if self.audio:
            out["audio_fbank"] = self.fbank.to_dict()
        out.update(fps=self.fps, short_side=self.short_side, interpolation=self.interpolation, seq_len=self.seq_len)
        return out

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], source: str = "feature settings", **defaults: Any) -> FeatureSpec:
        """Read :meth:`to_dict`'s form, ignoring keys that are not feature settings.

        Keys missing from ``doc`` (older files did not record ``seq_len``, and a
        store written with an encoder set to ``none`` has no ``audio_fbank``) take
        ``defaults``, then the class defaults. A wrong type is a one-line error naming ``source``.
        """
        if not isinstance(doc, Mapping):
            raise ConfigError(f"{source}: feature settings must be a mapping, not {type(doc).__name__}")
        values: dict[str, Any] = dict(defaults)
        for key in ("audio_encoder", "visual_encoder"):
            if key in doc:
                value = doc[key]
                if value is not None and not isinstance(value, str):
                    raise ConfigError(f"{source}: {key} must be a string, not {type(value).__name__}")
                values[key] = value
        for key in ("fps", "short_side", "interpolation", "seq_len"):
            if doc.get(key) is not None:
                values[key] = _typed(key, doc[key], source, key)
        fbank = doc.get("audio_fbank")
        if fbank is not None:
            if not isinstance(fbank, Mapping):
                raise ConfigError(f"{source}: audio_fbank must be a mapping, not {type(fbank).__name__}")
            values["fbank"] = FbankSpec.from_dict(fbank, source)
        return cls(**values).validate(source)

    def differences(self, other: FeatureSpec) -> list[tuple[str, Any, Any]]:
        """``(key, self's value, other's value)`` for each stored key whose values differ."""
        mine, theirs = self.to_dict(), other.to_dict()
        return [
            (k, mine.get(k), theirs.get(k)) for k in dict.fromkeys([*mine, *theirs]) if mine.get(k) != theirs.get(k)
        ]

    def as_flat_dict(self) -> dict[str, Any]:
        """Every field, fbank nested (for reports and JSON output)."""
        return asdict(self)


_TYPES = {
    "fps": float,
    "short_side": int,
    "interpolation": str,
    "seq_len": int,
    "target_frames": int,
    "norm_mean": float,
    "norm_std": float,
    "sample_rate": int,
    "num_mel_bins": int,
}


def _typed(key: str, value: Any, source: str, label: str) -> Any:
    """``value`` as the field's type: ints stay ints, a float field takes an int, anything else is an error."""
    kind = _TYPES[key]
    ok = (
        isinstance(value, str)
        if kind is str
        else (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and (kind is float or float(value).is_integer())
        )
    )
    if not ok:
        raise ConfigError(f"{source}: {label} must be {'a string' if kind is str else 'a number'}, got {value!r}")
    return kind(value)
