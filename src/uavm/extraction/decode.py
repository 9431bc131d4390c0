"""The CPU half of extraction, run in worker processes: one media file → fbank and frames.

The file is opened and demuxed once; audio packets go to the 16 kHz mono
resampler, video packets to the frame sampler. Only what the model uses is kept:
the first ``seq_len`` frames (the clip's first ``seq_len / fps`` seconds) and the
samples of the fbank's ``target_frames``, so a small file with extreme timestamps
cannot make a worker allocate without bound. A track that is missing or fails
to decode is reported, not raised, so the caller can keep the other track.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import av
import numpy as np
import torch

from ..errors import MediaError, UAVMError
from ..feature_spec import FeatureSpec
from ..features.filterbank import normalized_fbank, samples_for_frames
from ..media.audio_io import MonoResampler, audio_stream
from ..media.demux import Track, demux, reason
from ..media.video_io import FrameSampler, open_media, video_streams
from ..modality import TRACK_NAMES, modality_key
from .inputs import ClipInput

MISSING = "missing"  # a track's problem when the file simply has no such track


@dataclass
class DecodedClip:
    """A worker's result. ``problems`` maps a modality to why it has no data (``MISSING``: no such track)."""

    item: ClipInput
    fbank: np.ndarray | None = None  # float32 [frames, 128], normalised
    frames: np.ndarray | None = None  # uint8 [T, H, W, 3]
    problems: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def describe_problems(problems: dict[str, str]) -> str:
    """One line for what went wrong with a clip's tracks (``"no audio track"``, a decoder's complaint, ...)."""
    texts = {m: (f"no {TRACK_NAMES[modality_key(m)]} track" if p == MISSING else p) for m, p in problems.items()}
    unique = list(dict.fromkeys(texts.values()))
    if len(unique) <= 1:
        return unique[0] if unique else "nothing could be decoded"
    return "; ".join(f"{m}: {t}" for m, t in texts.items())


def init_worker() -> None:
    """Worker-process set-up: one torch thread each (the processes are the parallelism)."""
    torch.set_num_threads(1)


def decode_clip(item: ClipInput, config: FeatureSpec, threads: int = 1) -> DecodedClip:
    """Decode the tracks ``config`` extracts of ``item`` in one pass; never raises for a bad file.

    ``threads``: FFmpeg's video decoding threads; 1 (default) in worker processes, 0 (one per core,
    frame threading) for a lone decode. The frames are the same either way.
    """
    result = DecodedClip(item)
    start = time.perf_counter()
    try:
        container = open_media(item.path, item.data)
    except MediaError as exc:
        result.problems = {"audio": exc.problem, "visual": exc.problem}
        return result
    with container:
        waveform, centred = _demux(container, item, config, result, threads)
    result.seconds["decode"] = time.perf_counter() - start
    if waveform is not None:
        start = time.perf_counter()
        try:
            spec = config.fbank
            fbank = normalized_fbank(
                waveform, spec.target_frames, spec.norm_mean, spec.norm_std, spec.sample_rate, remove_mean=not centred
            )
            result.fbank = fbank.numpy().astype(np.float32, copy=False)
        except UAVMError as exc:
            result.problems["audio"] = str(exc)
        result.seconds["fbank"] = time.perf_counter() - start
    return result


def _demux(
    container: av.container.InputContainer, item: ClipInput, config: FeatureSpec, result: DecodedClip, threads: int
) -> tuple[torch.Tensor | None, bool]:
    """Fill ``result.frames`` / ``result.problems``; return the waveform (or ``None``) and whether it is centred.

    Video stops once ``seq_len`` frames are kept; audio is read to the end of the track, so a
    waveform cut to what the fbank uses is centred here on the mean of the whole track.
    """
    sampler = resampler = None
    tracks: list[Track] = []

    def video_track(skip_dropped: bool) -> Track:
        nonlocal sampler
        sampler = FrameSampler(
            container,
            item.path,
            fps=config.fps,
            short_side=config.short_side,
            interpolation=config.interpolation,
            threads=threads,
            max_frames=config.seq_len,
            skip_dropped=skip_dropped,
        )
        return Track("visual", sampler.stream, sampler.push, lambda: sampler.full, sampler.before_decode)

    if config.visual:
        if video_streams(container):
            tracks.append(video_track(skip_dropped=True))
        else:
            result.problems["visual"] = MISSING
    if config.audio:
        if container.streams.audio:
            resampler = MonoResampler(
                config.fbank.sample_rate,
                max_samples=samples_for_frames(config.fbank.target_frames, config.fbank.sample_rate),
            )
            tracks.append(Track("audio", audio_stream(container, item.path), resampler.push))
        else:
            result.problems["audio"] = MISSING
    if not tracks:
        return None, False
    result.problems.update(demux(container, tracks).problems)
    if sampler is not None and sampler.needs_redo and "visual" not in result.problems:
        try:  # a skipped frame's successor never came out: the video again, nothing skipped
            container.seek(0)
        except av.FFmpegError as exc:
            result.problems["visual"] = f"reading the file again failed ({reason(exc)})"
        else:
            result.problems.update(demux(container, [video_track(skip_dropped=False)]).problems)
    waveform = None
    if sampler is not None and "visual" not in result.problems:
        try:
            result.frames = sampler.finish().numpy()
        except (MediaError, av.FFmpegError) as exc:
            result.problems["visual"] = getattr(exc, "problem", None) or reason(exc)
    if resampler is not None and "audio" not in result.problems:
        try:
            waveform = resampler.waveform()
        except av.FFmpegError as exc:
            result.problems["audio"] = f"audio decoding failed ({reason(exc)})"
        else:
            if waveform.numel() == 0:
                result.problems["audio"] = "the audio track holds no decodable samples"
                waveform = None
            elif resampler.truncated:
                return waveform - resampler.mean(), True
    return waveform, False
