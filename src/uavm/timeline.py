"""What is heard and what is seen along a clip of any length: a sliding-window timeline.

A window of ``window`` seconds slides by ``hop`` seconds over the clip; for each one the
model gives its audio-only, visual-only and fused top-k lists, and an ``agreement`` between
the audio-only and visual-only class distributions. Only a unified model can say, from one
network, what the sound alone and the picture alone suggest at each moment.

Agreement is ``1 - JSD(p_audio, p_visual)``, the Jensen–Shannon divergence in base 2, so it
lies in [0, 1]: 1 when both views give the same distribution, 0 when they put their mass on
disjoint classes. Low agreement marks sound the picture does not explain (off-screen events,
voice-over, added music). Multi-label (sigmoid) scores are divided by their sum first.

The file is decoded once and streamed (PyAV): video frames are sampled at the model's rate
and go through the visual encoder in small batches as they arrive; the 16 kHz audio becomes
log-mel frames as it arrives, and the audio encoder runs on consecutive, non-overlapping
chunks of log-mel frames. Only per-step features are kept, so memory grows by a few kB per
second of media (a two-hour video holds ~130 MB of features with ConvNeXt-tiny) and no frame
or waveform is held for the whole file. Windows then slice the per-step features, so
overlapping windows cost no extra encoder work.

Audio chunk edges: the audio encoder gives one step per 32 log-mel frames (0.32 s). It runs
on chunks of ``32 * (target_frames // 32)`` frames (960 for the released encoders, i.e. 30
steps, the length of one training clip), each on its own with the network's zero padding at
both ends, exactly as every training clip was encoded. A window that straddles two chunks
therefore sees steps computed near a chunk edge, as the first and last steps of every
training clip are. The last chunk is padded up to a whole step with raw log-mel zeros, as
:func:`uavm.features.filterbank.normalized_fbank` pads a short clip.
Log-mel frames skip the whole-clip mean removal of :func:`normalized_fbank`: each frame
removes its own DC offset first, which cancels any constant shift of the waveform.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch
from torch import nn

from .errors import ConfigError, MediaError
from .features.filterbank import fbank, frame_geometry
from .media.audio_io import MonoResampler, audio_stream
from .media.demux import Track, demux
from .media.video_io import FrameSampler, open_media, video_streams
from .models.views import view_logits
from .progress import progress_bar

Ranked = list[tuple[str, float]]

AUDIO_STEP_FRAMES = 32  # log-mel frames per audio-encoder output step
FBANK_SHIFT_S = 0.01  # 10 ms between log-mel frames
AUDIO_STEP_S = AUDIO_STEP_FRAMES * FBANK_SHIFT_S
VISUAL_BATCH = 32  # frames per visual-encoder pass while streaming
AUDIO_BATCH_SAMPLES = 16000  # 16 kHz samples turned into log-mel frames at a time
END_SLACK_S = 0.05  # a clip's last 50 ms (container rounding) does not open one more window
JSON_KEYS = ("start", "end", "audio", "visual", "fused", "agreement")


# ---------------------------------------------------------------------------------------------
# Adapter: everything the timeline takes from a Predictor. When the single-clip inference API
# lands, re-point ``TimelineSource.from_predictor`` and ``TimelineSource.logits`` here only.
# ---------------------------------------------------------------------------------------------
@dataclass
class TimelineSource:
    """The model, its encoders, labels, feature settings and device, as the timeline needs them."""

    model: nn.Module
    audio_encoder: nn.Module | None
    visual_encoder: nn.Module | None
    labels: list[str]
    fps: float = 3
    short_side: int = 224
    interpolation: str = "bicubic"
    fbank_frames: int = 990
    fbank_mean: float = -5.081
    fbank_std: float = 4.4849
    feat_norm: bool = True
    multi_label: bool = False
    top_k: int = 5
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    bf16: bool | None = None

    @classmethod
    def from_predictor(cls, predictor: Any) -> TimelineSource:
        """What a :class:`uavm.predict.Predictor` holds (its model, encoders, labels and settings)."""
        extractor = predictor.extractor
        spec, encoders = extractor.spec, extractor.encoders
        return cls(
            model=predictor.model,
            audio_encoder=encoders.audio,
            visual_encoder=encoders.visual,
            labels=list(predictor.labels.names),
            fps=spec.fps,
            short_side=spec.short_side,
            interpolation=spec.interpolation,
            fbank_frames=spec.fbank.target_frames,
            fbank_mean=spec.fbank.norm_mean,
            fbank_std=spec.fbank.norm_std,
            feat_norm=predictor.feat_norm,
            multi_label=predictor.multi_label,
            top_k=predictor.top_k,
            device=predictor.device,
            bf16=extractor.bf16,
        )

    @property
    def seq_len(self) -> int:
        return int(self.model.config.seq_len)

    @property
    def arch(self) -> str:
        return str(self.model.config.arch)

    def logits(self, a: torch.Tensor | None, v: torch.Tensor | None) -> dict[str, torch.Tensor | None]:
        """Audio-only, visual-only and fused logits ``[B, C]`` (:func:`uavm.models.views.view_logits`)."""
        return view_logits(self.model, a, v)

    def received_attention(self, x: torch.Tensor, modality: str) -> np.ndarray | None:
        """Attention each time step receives in the top block (mean over heads and queries): ``[B, T]``."""
        if self.arch == "cross_attention" or not hasattr(self.model, "attention_maps"):
            return None
        maps = self.model.attention_maps(x, modality)
        if not maps:
            return None
        return maps[-1].float().mean(dim=(1, 2)).cpu().numpy()


# ------------------------------------------------------------------------------ end of adapter


@dataclass
class TimelineWindow:
    """One window: its span in seconds, the top-k list per view and the audio-visual agreement."""

    start: float
    end: float
    audio: Ranked | None
    visual: Ranked | None
    fused: Ranked | None
    agreement: float | None

    def to_json(self) -> dict[str, Any]:
        """Exactly the keys ``start, end, audio, visual, fused, agreement``."""

        def ranked(r: Ranked | None) -> list[dict[str, Any]] | None:
            return None if r is None else [{"label": n, "probability": round(p, 6)} for n, p in r]

        return {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "audio": ranked(self.audio),
            "visual": ranked(self.visual),
            "fused": ranked(self.fused),
            "agreement": None if self.agreement is None else round(self.agreement, 6),
        }


@dataclass
class StepFeatures:
    """Per-step features of a whole file: audio ``[Ta, D]`` (0.32 s a step), visual ``[Tv, D]`` (1/fps s)."""

    audio: np.ndarray | None
    visual: np.ndarray | None
    duration: float
    fps: float
    frames_encoded: int = 0  # frames that went through the visual encoder
    notes: list[str] = field(default_factory=list)


@dataclass
class Timeline:
    """The windows of one file, and the attention each time step received (unified models)."""

    path: str
    duration: float
    window: float
    hop: float
    windows: list[TimelineWindow]
    attention: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def json_lines(self) -> str:
        """One JSON object per window (what ``uavm predict --timeline --json`` prints)."""
        return "\n".join(json.dumps(w.to_json()) for w in self.windows)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "duration": round(self.duration, 3),
            "window": self.window,
            "hop": self.hop,
            "windows": [w.to_json() for w in self.windows],
            "attention": self.attention,
            "notes": self.notes,
        }


def agreement(p: np.ndarray, q: np.ndarray) -> float:
    """``1 - JSD(p, q)`` with base-2 logarithms: 1 for equal distributions, 0 for disjoint ones."""
    p = np.asarray(p, np.float64) / max(float(np.sum(p)), 1e-30)
    q = np.asarray(q, np.float64) / max(float(np.sum(q)), 1e-30)
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / m[mask])))

    return float(min(1.0, max(0.0, 1.0 - (kl(p) + kl(q)) / 2)))


def window_spans(duration: float, window: float = 10, hop: float = 5) -> list[tuple[float, float]]:
    """``(start, end)`` of every window: starts at 0, ``hop`` apart, and a last one that ends at the end of
    the clip and, when the clip is longer than a window, starts ``window`` seconds before it (so every
    window the model sees is a whole one, never a zero-padded tail)."""
    if not (window > 0 and hop > 0):
        raise ConfigError(f"window and hop must be positive, got window={window} hop={hop}")
    if duration <= 0:
        return []
    spans, start = [], 0.0
    while True:
        if start + window >= duration - END_SLACK_S:  # the last window ends where the clip does
            spans.append((max(0.0, round(duration - window, 6)) if duration > window else 0.0, duration))
            return spans
        spans.append((start, start + window))
        start = round(start + hop, 6)


def stream_features(
    path: str | Path, source: TimelineSource, progress: bool = False, skip_dropped: bool = True
) -> StepFeatures:
    """Decode ``path`` once, streaming, into per-step audio and visual features (see the module doc).

    ``skip_dropped``: the video decoder skips frames the fps filter would drop
    (:class:`~uavm.media.video_io.FrameSampler`); in the rare case it must not have
    (a damaged stream), the file is streamed again without skipping.
    """
    path = Path(path)
    container = open_media(path)
    notes: list[str] = []
    with container:
        duration_hint = (container.duration or 0) / 1_000_000
        tracks: list[Track] = []
        visual = audio = None
        if source.visual_encoder is not None:
            if video_streams(container):
                sampler = FrameSampler(
                    container,
                    path,
                    fps=source.fps,
                    short_side=source.short_side,
                    interpolation=source.interpolation,
                    skip_dropped=skip_dropped,
                )
                visual = _VisualSteps(source, sampler)
                tracks.append(Track("visual", sampler.stream, visual.push, before=sampler.before_decode))
            else:
                notes.append("visual: no video track")
        if source.audio_encoder is not None:
            if container.streams.audio:
                audio = _AudioSteps(source, MonoResampler(16000))
                tracks.append(Track("audio", audio_stream(container, path), audio.push))
            else:
                notes.append("audio: no audio track")
        if not tracks:
            raise MediaError(path, "; ".join(n.split(": ", 1)[1] for n in notes) or "nothing to decode")
        bar = progress_bar(
            total=round(duration_hint, 1) or None,
            desc="timeline",
            unit="s",
            unit_scale=False,
            enabled=progress,
            bar_format="{l_bar}{bar}| {n:.0f}/{total_fmt} s media [{rate_fmt}]",
        )
        shown = 0.0

        def show(packet: av.Packet) -> None:
            nonlocal shown
            if packet.pts is not None and packet.time_base is not None:
                now = float(packet.pts * packet.time_base)
                if now > shown + 0.5:
                    bar.update(round(now - shown, 1))
                    shown = now

        try:
            outcome = demux(container, tracks, on_packet=show)
            if bar.total and bar.n < bar.total:
                bar.update(bar.total - bar.n)
        finally:
            bar.close()
        if outcome.read_error:
            raise MediaError(path, outcome.read_error)
        failed = outcome.problems  # a track whose decoding failed: the other one went on
        for modality, problem in failed.items():
            notes.append(f"{modality}: {problem}")
        if "visual" in failed:
            visual = None
        if "audio" in failed:
            audio = None
        if visual is not None:
            visual.flush()
            if visual.sampler.needs_redo:
                return stream_features(path, source, progress, skip_dropped=False)
        if audio is not None:
            audio.flush()
    v = visual.finish() if visual is not None else None
    a = audio.finish() if audio is not None else None
    lengths = [
        len(v) / source.fps if v is not None and len(v) else 0.0,
        audio.samples / 16000 if audio is not None else 0.0,
    ]
    if (v is None or not len(v)) and (a is None or not len(a)):
        raise MediaError(path, "; ".join(failed.values()) or "no decodable audio or video")
    return StepFeatures(
        a if a is not None and len(a) else None,
        v if v is not None and len(v) else None,
        max(lengths),
        source.fps,
        visual.frames if visual is not None else 0,
        notes,
    )


def timeline(
    source: TimelineSource, path: str | Path, window: float = 10, hop: float = 5, progress: bool = False
) -> Timeline:
    """The sliding-window timeline of one file (see the module doc)."""
    t0 = time.perf_counter()
    window_spans(1, window, hop)  # bad settings fail before the file is decoded
    steps = stream_features(path, source, progress=progress)
    spans = window_spans(steps.duration, window, hop)
    windows: list[TimelineWindow] = []
    received: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for m, feats in (("audio", steps.audio), ("visual", steps.visual)):
        if feats is not None:
            received[m] = (np.zeros(len(feats)), np.zeros(len(feats)))
    with torch.inference_mode():
        for lo in range(0, len(spans), 16):
            batch = spans[lo : lo + 16]
            xa, ia = _window_inputs(steps.audio, batch, AUDIO_STEP_S, source)
            xv, iv = _window_inputs(steps.visual, batch, 1 / steps.fps, source)
            logits = source.logits(xa, xv)
            probs = {k: None if t is None else _probabilities(t, source.multi_label) for k, t in logits.items()}
            for k, (start, end) in enumerate(batch):
                pa = probs["a"][k] if probs["a"] is not None else None
                pv = probs["v"][k] if probs["v"] is not None else None
                windows.append(
                    TimelineWindow(
                        start,
                        end,
                        _rank(pa, source),
                        _rank(pv, source),
                        _rank(probs["av"][k] if probs["av"] is not None else None, source),
                        agreement(pa, pv) if pa is not None and pv is not None else None,
                    )
                )
            for m, x, index in (("audio", xa, ia), ("visual", xv, iv)):
                if x is None:
                    continue
                att = source.received_attention(x, m[0])
                if att is None:
                    continue
                total, count = received[m]
                for k, idx in enumerate(index):
                    n = min(len(idx), att.shape[1])
                    np.add.at(total, idx[:n], att[k, :n])
                    np.add.at(count, idx[:n], 1)
    attention = {}
    for m, (total, count) in received.items():
        if count.any():
            step_s = AUDIO_STEP_S if m == "audio" else 1 / steps.fps
            seen = count > 0
            attention[m] = {
                "times": [round(float(i * step_s), 3) for i in np.flatnonzero(seen)],
                "values": [round(float(x), 6) for x in total[seen] / count[seen]],
            }
    return Timeline(str(path), steps.duration, window, hop, windows, attention, steps.notes, time.perf_counter() - t0)


def plot_timeline(result: Timeline, dest: str | Path, classes_per_view: int = 3, title: str | None = None) -> Path:
    """The top classes of each view along time (probability curves) and the agreement curve, as a PNG.

    ``title`` names the clip in the figure (default: the file name of ``result.path``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .atomic import atomic_path

    dest = Path(dest)
    views = [v for v in ("audio", "visual", "fused") if any(getattr(w, v) for w in result.windows)]
    fig, axes = plt.subplots(len(views) + 1, 1, figsize=(10, 1.5 * (len(views) + 1) + 0.5), sharex=True)
    axes = np.atleast_1d(axes)
    centres = [(w.start + w.end) / 2 for w in result.windows]
    for ax, view in zip(axes, views):
        totals: dict[str, float] = {}
        for w in result.windows:
            for name, p in getattr(w, view) or []:
                totals[name] = totals.get(name, 0.0) + p
        for name in sorted(totals, key=totals.get, reverse=True)[:classes_per_view]:
            ys = [dict(getattr(w, view) or []).get(name, 0.0) for w in result.windows]
            ax.plot(centres, ys, marker="o", ms=3, label=name)
        ax.set_ylabel(f"{view}\nprobability")
        ax.set_ylim(0, 1.02)
        ax.legend(loc="upper right", fontsize=7, ncol=classes_per_view)
        ax.grid(alpha=0.3)
    agree = [w.agreement for w in result.windows]
    ax = axes[-1]
    if any(a is not None for a in agree):
        ax.plot(centres, [np.nan if a is None else a for a in agree], color="black", marker="o", ms=3)
    ax.set_ylabel("agreement\n(1 - JSD)")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("time (s, window centre)")
    ax.grid(alpha=0.3)
    name = title or Path(result.path).name
    fig.suptitle(f"{name}: {result.window:g} s windows every {result.hop:g} s", fontsize=10)
    fig.tight_layout()
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return dest


# ------------------------------------------------------------------------------------ internals


class _VisualSteps:
    """Decoded video → sampled frames → visual-encoder features, a batch at a time; frames are dropped once encoded."""

    def __init__(self, source: TimelineSource, sampler: FrameSampler):
        self.source, self.sampler, self.pending, self.out, self.frames = source, sampler, [], [], 0

    def push(self, frame: av.VideoFrame) -> None:
        self.sampler.push(frame)
        self.add(self.sampler.take())

    def flush(self) -> None:
        self.sampler.flush()
        self.add(self.sampler.take())

    def add(self, frames: list[np.ndarray]) -> None:
        self.pending += frames
        while len(self.pending) >= VISUAL_BATCH:
            self._encode(self.pending[:VISUAL_BATCH])
            self.pending = self.pending[VISUAL_BATCH:]

    def _encode(self, frames: list[np.ndarray]) -> None:
        x = torch.from_numpy(np.stack(frames))
        with torch.inference_mode():
            feats = self.source.visual_encoder.encode(x, batch_size=VISUAL_BATCH, bf16=self.source.bf16)
        self.out.append(feats.numpy().astype(np.float32))
        self.frames += len(frames)

    def finish(self) -> np.ndarray:
        if self.pending:
            self._encode(self.pending)
            self.pending = []
        return np.concatenate(self.out) if self.out else np.zeros((0, 1), np.float32)


class _AudioSteps:
    """16 kHz samples → log-mel frames → audio-encoder steps, chunk by chunk (see the module doc)."""

    def __init__(self, source: TimelineSource, resampler: MonoResampler):
        self.source, self.resampler = source, resampler
        self.size, self.shift, _ = frame_geometry(16000)
        self.chunk = AUDIO_STEP_FRAMES * max(1, source.fbank_frames // AUDIO_STEP_FRAMES)
        self.tail = np.zeros(0, np.float32)  # samples not yet turned into log-mel frames
        self.mel: list[np.ndarray] = []  # log-mel frames not yet encoded
        self.mel_count = 0
        self.out: list[np.ndarray] = []
        self.samples = 0

    def push(self, frame: av.AudioFrame) -> None:
        self.resampler.push(frame)
        self.add(self.resampler.take())

    def flush(self) -> None:
        self.resampler.flush()
        self.add(self.resampler.take(), flush=True)

    def add(self, samples: np.ndarray, flush: bool = False) -> None:
        self.samples += len(samples)
        self.tail = np.concatenate([self.tail, samples]) if len(samples) else self.tail
        if len(self.tail) < AUDIO_BATCH_SAMPLES and not flush:
            return  # log-mel frames are made a second of audio at a time
        count = 0 if len(self.tail) < self.size else 1 + (len(self.tail) - self.size) // self.shift
        if count:
            used = self.size + (count - 1) * self.shift
            mel = fbank(torch.from_numpy(self.tail[:used]))
            self.tail = self.tail[count * self.shift :]
            mel = ((mel - self.source.fbank_mean) / self.source.fbank_std).numpy()
            self.mel.append(mel)
            self.mel_count += len(mel)
        while self.mel_count >= self.chunk:
            frames = np.concatenate(self.mel)
            self._encode(frames[: self.chunk])
            self.mel = [frames[self.chunk :]]
            self.mel_count = len(self.mel[0])

    def _encode(self, frames: np.ndarray) -> None:
        x = torch.from_numpy(np.ascontiguousarray(frames))[None]
        encoder = self.source.audio_encoder
        device = next(encoder.parameters()).device
        fast = device.type == "cuda" if self.source.bf16 is None else self.source.bf16
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=fast):
            self.out.append(encoder.encode(x.to(device)).float().cpu().numpy()[0])

    def finish(self) -> np.ndarray:
        if self.mel_count:
            frames = np.concatenate(self.mel)
            whole = AUDIO_STEP_FRAMES * math.ceil(len(frames) / AUDIO_STEP_FRAMES)
            silence = -self.source.fbank_mean / self.source.fbank_std  # a raw 0 after normalisation
            padded = np.full((whole, frames.shape[1]), silence, np.float32)
            padded[: len(frames)] = frames
            self._encode(padded)
            self.mel, self.mel_count = [], 0
        return np.concatenate(self.out) if self.out else np.zeros((0, 1), np.float32)


def _window_inputs(
    features: np.ndarray | None, spans: list[tuple[float, float]], step_s: float, source: TimelineSource
) -> tuple[torch.Tensor | None, list[np.ndarray]]:
    """Model inputs ``[B, seq_len, D]`` for the windows (padded / cut as in training) and their step indices."""
    if features is None:
        return None, []
    from .data.transforms import feat_norm
    from .sequence import pad_or_cut

    rows, index = [], []
    for start, end in spans:
        first = min(round(start / step_s), len(features))
        last = min(first + max(1, round((end - start) / step_s)), len(features))
        if last <= first:  # a window past the last step of this modality: its final steps
            first = max(0, last - 1)
        rows.append(pad_or_cut(features[first:last], source.seq_len))
        index.append(np.arange(first, min(last, first + source.seq_len)))
    x = torch.from_numpy(np.stack(rows)).float()
    x = feat_norm(x) if source.feat_norm else x
    return x.to(source.device), index


def _probabilities(logits: torch.Tensor, multi_label: bool) -> np.ndarray:
    logits = logits.float().cpu()
    return (logits.sigmoid() if multi_label else logits.softmax(-1)).numpy()


def _rank(probs: np.ndarray | None, source: TimelineSource) -> Ranked | None:
    if probs is None:
        return None
    order = np.argsort(-probs, kind="stable")[: min(source.top_k, len(probs))]
    return [(source.labels[i], float(probs[i])) for i in order]


__all__ = [
    "JSON_KEYS",
    "StepFeatures",
    "Timeline",
    "TimelineSource",
    "TimelineWindow",
    "agreement",
    "plot_timeline",
    "stream_features",
    "timeline",
    "window_spans",
]
