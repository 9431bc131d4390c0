"""Clips → audio and visual feature sequences: the one inference API that extraction and prediction share.

A :class:`FeatureExtractor` is built from a :class:`~uavm.feature_spec.FeatureSpec`, a
device and a bfloat16 choice; it resolves the encoders once. Making features is two
separable steps: :meth:`FeatureExtractor.decode` (CPU only: one media file → normalised
fbank and frames; its inputs are picklable, so it runs in worker processes) and
:meth:`FeatureExtractor.encode` (the device: a batch of decoded clips through the
encoders). :meth:`FeatureExtractor.features` does both for one clip,
:meth:`FeatureExtractor.features_many` for many, in input order.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..device import resolve_device, use_bf16
from ..errors import ConfigError, printable
from ..feature_spec import FeatureSpec
from ..modality import LONG_NAMES
from .decode import MISSING, DecodedClip, decode_clip, describe_problems
from .encoders import Encoders, resolve_encoders
from .inputs import ClipInput

ENCODE_STAGES = ("audio_net", "visual_net")


@dataclass
class ClipFeatures:
    """One clip's features: ``audio`` / ``visual`` ``[T, D]`` float32, ``None`` when that modality has none.

    ``problems`` maps a modality (``"audio"``, ``"visual"``) to why it has no features
    (``MISSING``: the file has no such track); ``seconds`` is the time each stage took.
    """

    item: ClipInput
    audio: np.ndarray | None = None
    visual: np.ndarray | None = None
    problems: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        """The media file."""
        return Path(self.item.path)

    @property
    def ok(self) -> bool:
        """Whether at least one modality has features."""
        return self.audio is not None or self.visual is not None

    def error(self) -> str | None:
        """One line naming the file and why it has no features at all, ``None`` when it has some."""
        return None if self.ok else f"{printable(str(self.item.path))}: {describe_problems(self.problems)}"

    def notes(self) -> list[str]:
        """One line per modality without features saying why (``"visual: no video track"``)."""
        arrays = dict(zip(LONG_NAMES, (self.audio, self.visual)))
        return [
            f"{m}: {describe_problems({m: self.problems.get(m, MISSING)})}" for m in LONG_NAMES if arrays[m] is None
        ]


class FeatureExtractor:
    """The encoders of ``spec`` on ``device``, and the decoding settings that go with them.

    ``device``: see :func:`uavm.device.resolve_device` (default: this process's GPU, else the CPU).
    ``bf16``: encoders in bfloat16 autocast (default: on a GPU only). ``frame_batch``: frames per
    visual-encoder pass. ``encoders``: already resolved encoders of ``spec`` (else resolved here).
    ``decode_threads``: FFmpeg threads for :meth:`decode` (0: one per core, frame threading, for a
    lone decode as in ``predict``; extraction's worker processes decode with one thread each).
    ``encoder_fbank``: use the log-mel settings the audio encoder was trained with (what
    ``uavm extract`` does); ``False`` keeps ``spec.fbank`` (a model file's recorded settings).
    :attr:`spec` is the spec the features are actually made with.
    """

    def __init__(
        self,
        spec: FeatureSpec | None = None,
        *,
        device: str | torch.device | None = None,
        bf16: bool | None = None,
        frame_batch: int = 128,
        encoders: Encoders | None = None,
        encoder_fbank: bool = True,
        decode_threads: int = 0,
    ):
        spec = (spec or FeatureSpec()).validate()
        self.encoders = encoders if encoders is not None else resolve_encoders(spec.audio_encoder, spec.visual_encoder)
        if (self.encoders.audio is None, self.encoders.visual is None) != (not spec.audio, not spec.visual):
            raise ConfigError(
                "the encoders given do not match the feature spec: "
                f"audio {spec.audio_encoder or 'none'}, visual {spec.visual_encoder or 'none'}"
            )
        if encoder_fbank and self.encoders.audio is not None:
            spec = spec.replace(fbank=self.encoders.audio_input)
        self.spec: FeatureSpec = spec
        self.device = resolve_device(device)
        self.bf16 = bf16
        self.frame_batch = frame_batch
        self.decode_threads = decode_threads
        self.encoders.to(self.device)

    @property
    def dim(self) -> int:
        """The feature dimension (both encoders share it)."""
        return self.encoders.dim

    def decode(self, item: ClipInput | str | Path) -> DecodedClip:
        """The CPU step for one file (never raises for a bad file: see ``problems``)."""
        return decode_clip(as_clip_input(item), self.spec, threads=self.decode_threads)

    @torch.inference_mode()
    def encode(self, batch: list[DecodedClip], seconds: dict[str, float] | None = None) -> list[ClipFeatures]:
        """The device step: decoded clips → their features, in order.

        ``seconds``, when given, accumulates the time of ``audio_net`` and ``visual_net``.
        """
        seconds = seconds if seconds is not None else dict.fromkeys(ENCODE_STAGES, 0.0)
        out = [ClipFeatures(c.item, problems=dict(c.problems), seconds=dict(c.seconds)) for c in batch]
        with_audio = [i for i, c in enumerate(batch) if c.fbank is not None]
        if with_audio and self.encoders.audio is not None:
            t = time.perf_counter()
            fbank = torch.from_numpy(np.stack([batch[i].fbank for i in with_audio]))
            device = next(self.encoders.audio.parameters()).device
            fast = use_bf16(device, self.bf16)
            if fast:
                self.encoders.audio.to(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=fast):
                audio = self.encoders.audio.encode(fbank.to(device)).float().cpu().numpy()
            for k, i in enumerate(with_audio):
                out[i].audio = audio[k]
            seconds["audio_net"] = seconds.get("audio_net", 0.0) + time.perf_counter() - t
        with_video = [i for i, c in enumerate(batch) if c.frames is not None]
        if with_video and self.encoders.visual is not None:
            t = time.perf_counter()
            by_size: dict[tuple[int, ...], list[int]] = collections.defaultdict(list)
            for i in with_video:
                by_size[batch[i].frames.shape[1:]].append(i)
            for group in by_size.values():  # frames of one size go through the network together
                frames = torch.from_numpy(np.concatenate([batch[i].frames for i in group]))
                visual = self.encoders.visual.encode(frames, batch_size=self.frame_batch, bf16=self.bf16).numpy()
                bounds = np.cumsum([0] + [len(batch[i].frames) for i in group])
                for k, i in enumerate(group):
                    out[i].visual = visual[bounds[k] : bounds[k + 1]]
            seconds["visual_net"] = seconds.get("visual_net", 0.0) + time.perf_counter() - t
        return out

    def features(self, item: ClipInput | str | Path) -> ClipFeatures:
        """Both steps for one clip."""
        return self.encode([self.decode(item)])[0]

    def features_many(self, items: Iterable[ClipInput | str | Path], batch_size: int = 8) -> Iterator[ClipFeatures]:
        """Features of many clips in input order, decoded here and encoded ``batch_size`` at a time.

        Each result's ``seconds`` holds ``decode_and_fbank`` and ``features``: its share of its batch's time.
        """
        items = [as_clip_input(i) for i in items]
        for start in range(0, len(items), batch_size):
            t0 = time.perf_counter()
            decoded = [self.decode(item) for item in items[start : start + batch_size]]
            t1 = time.perf_counter()
            results = self.encode(decoded)
            t2 = time.perf_counter()
            for result in results:
                result.seconds = {"decode_and_fbank": (t1 - t0) / len(decoded), "features": (t2 - t1) / len(decoded)}
                yield result


def as_clip_input(item: ClipInput | str | Path) -> ClipInput:
    """A :class:`ClipInput` for a path (its file name as the id), or ``item`` itself."""
    if isinstance(item, ClipInput):
        return item
    return ClipInput(Path(item).name, Path(item))
