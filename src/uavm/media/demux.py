"""One pass over a media file: demux its packets and feed each track's decoded frames to a sink.

Extraction (one clip → fbank and frames) and the timeline (a long file, streamed) both read
audio and video in a single pass. This is that pass: packets of the chosen streams are decoded
in file order and every frame goes to its track's ``push`` (a :class:`~uavm.media.video_io.FrameSampler`
or :class:`~uavm.media.audio_io.MonoResampler`, or a function wrapping one). A track whose
decoding fails (or whose sink refuses the media with a :class:`~uavm.errors.MediaError`) is
reported and dropped while the others go on; when the demuxer itself gives up, every track
not yet failed or done is reported. A track whose ``done`` says it has all it needs is no longer
decoded, and the pass stops once every track is done.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import av

from ..errors import MediaError


@dataclass
class Track:
    """One stream to decode: ``push`` receives its frames in order; ``done`` says when to stop feeding it.

    ``before`` (optional) sees each packet of the stream just before it is decoded
    (:meth:`uavm.media.video_io.FrameSampler.before_decode`) and says whether to decode it.
    """

    name: str  # how problems name it ("audio", "visual")
    stream: av.stream.Stream
    push: Callable[[av.AudioFrame | av.VideoFrame], None]
    done: Callable[[], bool] = lambda: False
    before: Callable[[av.Packet], bool] | None = None


@dataclass
class DemuxResult:
    """What went wrong: ``problems`` maps a failed track's name to why; ``read_error`` is the demuxer's complaint."""

    problems: dict[str, str] = field(default_factory=dict)
    read_error: str | None = None


def demux(
    container: av.container.InputContainer,
    tracks: list[Track],
    on_packet: Callable[[av.Packet], None] | None = None,
) -> DemuxResult:
    """Decode ``tracks`` of ``container`` in one pass, from where it stands to the end (or until all are done).

    ``on_packet`` sees every packet demuxed (e.g. to show progress in seconds of media). Never raises
    for bad media: failures are in the result (see the module doc).
    """
    result = DemuxResult()
    by_index = {t.stream.index: t for t in tracks}
    if not by_index:
        return result
    live = set(by_index)
    try:
        for packet in container.demux([t.stream for t in tracks]):
            track = by_index[packet.stream.index]
            if on_packet is not None:
                on_packet(packet)
            if packet.stream.index not in live:
                continue
            try:
                if track.before is None or track.before(packet):
                    for frame in packet.decode():
                        track.push(frame)
            except av.FFmpegError as exc:
                result.problems[track.name] = f"{track.name} decoding failed ({reason(exc)})"
            except MediaError as exc:  # the sink refused the media, e.g. an unbounded frame size
                result.problems[track.name] = exc.problem
            if track.name in result.problems or track.done():
                live.discard(packet.stream.index)
                if not live:
                    break
    except av.FFmpegError as exc:  # the demuxer itself gave up: whatever is unfinished fails
        result.read_error = f"reading the file failed ({reason(exc)})"
        for index in live:
            result.problems.setdefault(by_index[index].name, result.read_error)
    return result


def reason(exc: BaseException) -> str:
    """FFmpeg's (or any exception's) complaint as one line, without PyAV's errno and path decorations."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text.strip().splitlines()[0]
