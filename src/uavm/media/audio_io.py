"""Decoding audio from any media file to the waveform the reference trained on.

The reference converted every clip with ``ffmpeg -ar 16000 -ac 1 clip.wav`` and
read it with ``torchaudio.load``: FFmpeg's resampler downmixes and resamples to
16-bit mono, then the samples are divided by 32768. We run the same resampler
through PyAV with 16-bit output (and the internal sample format the CLI of the reference's era
chose), so the samples match the CLI's to 1 LSB. (Asking
FFmpeg for float output instead would change the downmix gain, e.g. ×3.4 on 5.1
audio, because its mixing matrix is normalised only for integer output.)
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from ..errors import MediaError, NoAudioTrackError

INT16_SCALE = 32768.0


class MonoResampler:
    """Collects decoded audio frames as 16-bit mono at one rate, as the FFmpeg CLI converts them.

    For callers that demux a file once and dispatch frames themselves (audio and
    video in one pass, :func:`uavm.media.demux.demux`): ``push`` every decoded audio frame,
    then ``waveform()`` for the whole track. A streaming caller instead calls :meth:`take` as
    it goes (the samples ready so far, handed over and no longer held) and :meth:`flush` at
    the end of the stream, then :meth:`take` once more.

    ``max_samples`` keeps only the first samples (the fbank uses ``target_frames`` frames:
    ``samples_for_frames(target_frames)``), so memory stays bounded whatever the file's
    length; :meth:`mean` is still the mean of every sample (the reference centres the
    whole clip), accumulated as the samples go by.
    """

    def __init__(self, sample_rate: int = 16000, max_samples: int | None = None):
        self.sample_rate = sample_rate
        self.max_samples = max_samples
        self._graph: av.filter.Graph | None = None
        self._input: tuple[str, str, int] | None = None
        self._chunks: list[np.ndarray] = []
        self._kept = 0
        self._sum = 0  # of every int16 sample, exact
        self._count = 0

    @property
    def truncated(self) -> bool:
        """Whether samples past ``max_samples`` were dropped."""
        return self._count > self._kept

    def mean(self) -> float:
        """Mean of every sample pushed (including dropped ones), in [-1, 1)."""
        return self._sum / self._count / INT16_SCALE if self._count else 0.0

    def push(self, frame: av.AudioFrame | None) -> None:
        """Resample one decoded frame (``None`` flushes the resampler's tail)."""
        if frame is not None:
            setup = (frame.format.name, frame.layout.name, frame.sample_rate)
            if setup != self._input:  # first frame, or the stream changed format mid-way
                self._drain(flush=True)
                self._graph = self._build(frame)
                self._input = setup
        if self._graph is None:
            return
        self._graph.push(frame)
        self._drain(flush=False)
        if frame is None:
            self._graph, self._input = None, None

    def flush(self) -> None:
        """End of stream: the resampler gives out its tail (then :meth:`take` it)."""
        self.push(None)

    def take(self) -> np.ndarray:
        """The samples ready so far as float32 ``[n]`` in [-1, 1), handed over: the resampler drops them."""
        if not self._chunks:
            return np.zeros(0, np.float32)
        samples = np.concatenate(self._chunks).astype(np.float32) / INT16_SCALE
        self._chunks = []
        return samples

    def waveform(self) -> torch.Tensor:
        """Flush and return everything pushed (and not taken) as a float32 tensor ``[N]`` in [-1, 1)."""
        self.flush()
        samples = np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.int16)
        self._chunks = [samples] if len(samples) else []
        return torch.from_numpy(samples.astype(np.float32) / INT16_SCALE)

    def _build(self, frame: av.AudioFrame) -> av.filter.Graph:
        graph = av.filter.Graph()
        time_base = frame.time_base or Fraction(1, frame.sample_rate)
        source = graph.add(
            "abuffer",
            sample_rate=str(frame.sample_rate),
            sample_fmt=frame.format.name,
            channel_layout=frame.layout.name,
            time_base=str(time_base),
        )
        resample = graph.add("aresample", internal_sample_fmt=internal_sample_format(frame.format.name))
        convert = graph.add("aformat", sample_fmts="s16", sample_rates=str(self.sample_rate), channel_layouts="mono")
        sink = graph.add("abuffersink")
        source.link_to(resample)
        resample.link_to(convert)
        convert.link_to(sink)
        graph.configure()
        return graph

    def _drain(self, flush: bool) -> None:
        if self._graph is None:
            return
        if flush:
            self._graph.push(None)
        while True:
            try:
                out = self._graph.pull()
            except (BlockingIOError, EOFError):
                break
            samples = out.to_ndarray().reshape(-1)
            self._sum += int(samples.sum(dtype=np.int64))
            self._count += len(samples)
            if self.max_samples is not None:
                samples = samples[: max(self.max_samples - self._kept, 0)]
            if len(samples):
                self._chunks.append(samples)
                self._kept += len(samples)


def internal_sample_format(input_format: str) -> str:
    """The sample format libswresample computed in before FFmpeg 6 for 16-bit output.

    16-bit output from <= 16-bit input was mixed and resampled in 16-bit integers,
    wider input in float (double for 64-bit). Newer FFmpeg mixes 16-bit input in
    float, which moves the result by up to 2 LSB; naming the format keeps the old
    CLI's samples whatever FFmpeg PyAV bundles.
    """
    width = av.AudioFormat(input_format).bytes
    if width <= 2:
        return "s16p"
    return "fltp" if width <= 4 else "dblp"


def audio_stream(container: av.container.InputContainer, path_for_errors: str | Path) -> av.audio.stream.AudioStream:
    """The audio stream the FFmpeg CLI would pick (most channels, first on ties)."""
    streams = list(container.streams.audio)
    if not streams:
        raise NoAudioTrackError(path_for_errors)
    return max(streams, key=lambda s: s.codec_context.channels)


def decode_audio(
    container: av.container.InputContainer, path_for_errors: str | Path, sample_rate: int = 16000
) -> torch.Tensor:
    """Decode the audio track of an open ``container`` to float32 mono ``[N]`` at ``sample_rate``.

    Reads the container to its end (seek back to reuse it). Raises
    :class:`NoAudioTrackError` without an audio track and :class:`MediaError` with
    the decoder's complaint when decoding fails or yields no samples.
    """
    stream = audio_stream(container, path_for_errors)
    resampler = MonoResampler(sample_rate)
    try:
        for frame in container.decode(stream):
            resampler.push(frame)
        waveform = resampler.waveform()
    except av.error.FFmpegError as exc:
        raise MediaError(path_for_errors, f"cannot decode the audio track ({_complaint(exc)})") from exc
    if waveform.numel() == 0:
        raise MediaError(path_for_errors, "the audio track holds no decodable samples")
    return waveform


def load_audio(path: str | Path, sample_rate: int = 16000) -> torch.Tensor:
    """The audio of a media file as float32 mono ``[N]`` at ``sample_rate``, as ``ffmpeg -ar R -ac 1`` gives it.

    Any container / codec FFmpeg reads (wav, flac, mp3, ogg/opus, m4a/aac, mp4,
    webm, mkv, ...). Raises :class:`NoAudioTrackError` for a file without audio,
    :class:`MediaError` naming the file and the problem otherwise.
    """
    from .video_io import file_problem

    path = Path(path)
    problem = file_problem(path)
    if problem:
        raise MediaError(path, problem)
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:
        raise MediaError(path, f"cannot open as media ({_complaint(exc)})") from exc
    with container:
        return decode_audio(container, path, sample_rate)


def _complaint(exc: av.error.FFmpegError) -> str:
    """FFmpeg's own words for an error, without PyAV's errno and path decorations."""
    return getattr(exc, "strerror", None) or str(exc)
