"""Video frames at a fixed rate, decoded exactly as the FFmpeg command-line tool does.

The reference extracted frames with ``ffmpeg -i CLIP -vf fps=3,scale=W:H`` into
images. We run the same FFmpeg filters (``fps``, ``scale``, ``format=rgb24``,
and ``transpose``/``hflip``/``vflip`` for rotated streams) through PyAV's filter
graph and reproduce the CLI's timestamp handling around them, so the frames are
bit-identical to the CLI's (``frame.reformat`` is not: it skips the CLI's
rounding of timestamps and its scaler set-up).

What the CLI does and we mirror:

* timestamps are taken relative to the container's start time (for formats
  with timestamp discontinuities such as MPEG-TS, to the start of the decoded
  streams, here the video stream);
* a rotated stream (display matrix) is turned upright before ``fps``;
* the end of the stream is the last frame's timestamp plus its duration;
* in formats that allow timestamp discontinuities (MPEG-TS), a timestamp that
  jumps back, or forward by more than 10 s, is taken as a restart (two
  segments joined) and later timestamps are shifted to continue the stream,
  as the CLI's ``-dts_delta_threshold`` handling does (without it the second
  segment's frames fall before the first's and are dropped: half the frames);
* the image muxer is constant-frame-rate: when the video starts after the
  container does, the first frame is repeated to fill the gap from time 0, so
  frame ``k`` always shows time ``k / fps`` of the clip (and a gap later on is
  filled as the CLI's ``-vsync cfr`` does);
* when the frame size or pixel format changes mid-stream, the CLI builds its
  filters anew (the ``fps`` filter's pending frame is lost) and scales the new
  frames to the first frames' output size in a second step.

The output size keeps the aspect ratio with the short side set to
``short_side`` (the reference's rule: for ``h >= w``, ``W = short_side`` and
``H = int(h * short_side / w)``, else the other way round), computed on the
upright picture. (The reference measured the coded size, so it squashed
rotated phone videos; we do not.)

Interpolation: ``"bicubic"`` (default) is what the reference's command gives
under FFmpeg >= 5; under FFmpeg 4.x its ``-filter_complex`` scale used
``"bilinear"`` (the scale filter's default then), so features released with
the paper may have been computed with bilinear resizing. Pass
``interpolation="bilinear"`` to reproduce that.
"""

from __future__ import annotations

import errno
import io
import math
import stat
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from ..errors import MediaError, NoVideoTrackError

# swscale algorithms accepted by FFmpeg's scale filter (``flags=``)
INTERPOLATIONS = (
    "bicubic",
    "bilinear",
    "fast_bilinear",
    "neighbor",
    "area",
    "bicublin",
    "gauss",
    "sinc",
    "lanczos",
    "spline",
)

# The largest long side / short side of a frame that is scaled to ``short_side``: the scaled long
# side is at most MAX_ASPECT_RATIO * short_side (2240 px at 224). A 2000x2 video would otherwise
# become 224000x224 frames (150 MB each); such a clip is refused with a MediaError saying why.
MAX_ASPECT_RATIO = 10

# codecs whose decoder honours skip_frame=NONREF for frames nothing else decodes from
SKIPPABLE_CODECS = frozenset({"h264"})

# H.264 NAL unit types a left-out packet may hold besides non-reference slices (type 1):
# access unit delimiter, filler data (nothing else in the stream reads them)
_H264_NAL_SLICE = 1
_H264_NAL_IGNORABLE = frozenset({9, 12})

_AVFMT_TS_DISCONT = 0x0200  # libavformat: the format allows timestamp discontinuities
DISCONTINUITY_THRESHOLD_S = 10  # the CLI's -dts_delta_threshold default


def output_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """``(W, H)`` with the short side set to ``short_side`` and the aspect kept (reference rule)."""
    if height >= width:
        return short_side, int(height * short_side / width)
    return int(width * short_side / height), short_side


def load_frames(
    path: str | Path,
    fps: float = 3,
    short_side: int | None = 224,
    interpolation: str = "bicubic",
    threads: int = 0,
    max_frames: int | None = None,
) -> torch.Tensor:
    """Frames of the video at ``path``: uint8 RGB ``[T, H, W, 3]`` at ``fps`` frames per second.

    ``short_side=None`` keeps the decoded size. ``threads`` (0 = automatic)
    bounds FFmpeg's decoding and scaling threads. ``max_frames`` keeps the first frames only. Raises
    :class:`~uavm.errors.NoVideoTrackError` for a file without video and
    :class:`~uavm.errors.MediaError` for one that cannot be opened or decoded.
    """
    with open_media(path) as container:
        return decode_frames(
            container,
            path,
            fps=fps,
            short_side=short_side,
            interpolation=interpolation,
            threads=threads,
            max_frames=max_frames,
        )


def open_media(path: str | Path, data: bytes | None = None) -> av.container.InputContainer:
    """Open a media file with PyAV, turning failures into a :class:`MediaError` naming the file.

    ``data``: the file's bytes (an archive member read into memory), opened from memory;
    ``path`` then only names it in errors.
    """
    path = Path(path)
    problem = file_problem(path) if data is None else (None if data else "empty file")
    if problem:
        raise MediaError(path, problem)
    try:
        return av.open(str(path) if data is None else io.BytesIO(data), mode="r")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise MediaError(path, f"not a readable media file ({_reason(exc)})") from exc


def file_problem(path: str | Path) -> str | None:
    """Why ``path`` is not a readable media file (dangling link, link loop, folder, FIFO, device, empty), or ``None``.

    Checked before opening: FFmpeg would block forever on a FIFO and calls every one of these "no such file".
    """
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        return "a dangling symbolic link (its target does not exist)" if path.is_symlink() else "no such file"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link loop"
        return f"cannot be read ({exc.strerror or exc})"
    mode = info.st_mode
    if stat.S_ISDIR(mode):
        return "a folder, not a media file"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO), not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a regular file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a regular file"
    if not stat.S_ISREG(mode):
        return "not a regular file"
    if info.st_size == 0:
        return "empty file"
    return None


def decode_frames(
    container: av.container.InputContainer,
    path_for_errors: str | Path,
    fps: float = 3,
    short_side: int | None = 224,
    interpolation: str = "bicubic",
    threads: int = 0,
    max_frames: int | None = None,
) -> torch.Tensor:
    """Like :func:`load_frames`, on an already open container (one open can serve both tracks).

    The container is read from where it stands (freshly opened: the start) to the end of the file;
    in the rare case where skipping dropped frames must be undone (:attr:`FrameSampler.needs_redo`)
    it is read again from the start.
    """
    for skip in (True, False):
        sampler = FrameSampler(
            container,
            path_for_errors,
            fps=fps,
            short_side=short_side,
            interpolation=interpolation,
            threads=threads,
            max_frames=max_frames,
            skip_dropped=skip,
        )
        try:
            for packet in container.demux(sampler.stream):
                if sampler.before_decode(packet):
                    for frame in packet.decode():
                        sampler.push(frame)
                if sampler.full:
                    break
        except av.FFmpegError as exc:
            raise MediaError(path_for_errors, f"video decoding failed ({_reason(exc)})") from exc
        if not sampler.needs_redo:
            break
        try:
            container.seek(0)
        except av.FFmpegError as exc:
            raise MediaError(path_for_errors, f"reading the file again failed ({_reason(exc)})") from exc
    return sampler.finish()


class FrameSampler:
    """Turns the decoded frames of a container's video stream into the CLI's fixed-rate RGB frames.

    For callers that demux a file once and dispatch frames themselves (audio and
    video in one pass, :func:`uavm.media.demux.demux`): ``push`` every decoded frame of
    :attr:`stream` in order, then :meth:`finish` for the whole clip's frames. A streaming
    caller instead calls :meth:`take` as it goes (the frames ready so far, handed over and
    no longer held) and :meth:`flush` at the end of the stream, then :meth:`take` once more.
    ``stream`` defaults to the first real video stream.

    ``max_frames`` keeps only the first frames (the model uses ``seq_len`` of them: the
    clip's first ``seq_len / fps`` seconds, ``FeatureSpec.seconds``); once it has them,
    :attr:`full` is true and later frames are ignored, so memory and work stay bounded
    whatever the file's timestamps say (a second frame stamped 10 h after the first
    would otherwise become 108000 output frames).

    ``threads`` bounds FFmpeg's decoding and filter threads: 0 (default) is one per core with
    frame threading, for a lone decode (``predict``, the timeline, ``serve``); extraction workers
    pass 1, as their processes are the parallelism. The frames are the same either way.

    ``skip_dropped``: a caller that calls :meth:`before_decode` with each packet of :attr:`stream`
    lets the decoder skip non-reference H.264 frames that the ``fps`` filter is certain to drop:
    a frame is skipped only when a frame sent to the decoder before it has a later timestamp at
    the same output tick (the filter keeps the last frame of each tick, so the skipped one would
    have been dropped; nothing decodes from a non-reference frame). Whether every such later
    frame really came out of the decoder is checked as frames arrive; :attr:`needs_redo` says when
    one did not (a damaged stream), and the caller then decodes again with skipping off. So the
    frames stay those of the CLI; decoding a 25 fps clip for 3 fps output does about half the work.
    Such a packet that holds nothing but non-reference slices (length-prefixed H.264, as in MP4
    and Matroska) is not even sent to the decoder (:meth:`before_decode` says so): the decoder
    would skip it the same way, before any of its state changes, but with frame threading each
    packet sent holds a thread for a round trip.
    """

    def __init__(
        self,
        container: av.container.InputContainer,
        path_for_errors: str | Path,
        fps: float = 3,
        short_side: int | None = 224,
        interpolation: str = "bicubic",
        threads: int = 0,
        stream: av.video.stream.VideoStream | None = None,
        max_frames: int | None = None,
        skip_dropped: bool = False,
    ):
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"unknown interpolation {interpolation!r}; choose one of {', '.join(INTERPOLATIONS)}")
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        stream = stream or next(iter(video_streams(container)), None)
        if stream is None:
            raise NoVideoTrackError(path_for_errors)
        self.path = path_for_errors
        self.stream = stream
        codec = self.stream.codec_context
        if not codec.is_open:  # (a second sampler on a re-read stream keeps the first's threads)
            if threads != 1:  # frame threading (slices where a codec has no frame threads); bit-exact
                self.stream.thread_type = "AUTO"
            codec.thread_count = threads
        codec.skip_frame = "DEFAULT"
        self.fps, self.short_side, self.interpolation, self.threads = fps, short_side, interpolation, threads
        self._offset = _start_offset(container, self.stream)
        self._graph: av.filter.Graph | None = None
        self._input: tuple[int, int, str] | None = None  # size and format of the frames the filters were built for
        self._size: tuple[int, int] | None = None  # the first filters' output size, kept after a rebuild
        self._last_image: np.ndarray | None = None  # the latest output frame (the constant-rate output repeats it)
        self._ready: list[np.ndarray] = []  # output frames not yet taken
        self._count = 0  # output frames so far, taken or not
        self._flushed = False
        self._last_pts: int | None = None
        self.max_frames = max_frames
        self._discont = bool(container.format.flags & _AVFMT_TS_DISCONT)
        self._shift = 0  # added to timestamps after restarts (discontinuities)
        self._next_pts: int | None = None  # where the next frame is expected, after the shift
        self.restarts = 0  # timestamp discontinuities found (and bridged)
        self._skip = skip_dropped and stream.codec_context.name in SKIPPABLE_CODECS and not self._discont
        tick_unit = stream.time_base * Fraction(_fps_arg(fps))  # output ticks per stream time unit
        self._tick_num, self._tick_den = tick_unit.numerator, tick_unit.denominator
        self._nal_length = _avcc_nal_length(codec.extradata) if self._skip else None
        self._sent: dict[int, int] = {}  # output tick -> latest timestamp sent to the decoder
        self._seen: dict[int, int] = {}  # output tick -> latest timestamp decoded
        self._unconfirmed: dict[int, int] = {}  # output tick -> latest skipped timestamp without a later frame yet
        self._keyframe_seen = False
        self._skipping = False
        self.skipped = 0  # packets the decoder was told it may skip (if non-reference)
        self.left_out = 0  # of those, packets of non-reference slices only, not sent to the decoder

    @property
    def full(self) -> bool:
        """Whether ``max_frames`` frames are collected (further frames are ignored)."""
        return self.max_frames is not None and self._count >= self.max_frames

    @property
    def count(self) -> int:
        """Output frames produced so far (taken or not)."""
        return self._count

    @property
    def needs_redo(self) -> bool:
        """Whether a skipped frame's later frame at the same tick never came out of the decoder.

        Then the frames may differ from the CLI's: decode again with ``skip_dropped=False``.
        """
        if self.full:
            return any(t < self.max_frames for t in self._unconfirmed)
        return bool(self._unconfirmed)

    def before_decode(self, packet: av.Packet) -> bool:
        """Tell the decoder whether it may skip ``packet``'s frame (see ``skip_dropped``); call before decoding it.

        Returns whether to decode the packet: ``False`` for one the decoder would skip whole (only
        non-reference slices), which the caller leaves out; decoding it anyway, the decoder skips it.
        """
        if not self._skip:
            return True
        pts = packet.pts
        skip = False
        if pts is not None and not packet.is_discard and packet.size:
            tick = self._tick(pts)
            if self._keyframe_seen and not packet.is_keyframe and self._sent.get(tick, pts) > pts:
                skip = True
                if self._seen.get(tick, pts) <= pts:  # the later frame has not come out yet
                    self._unconfirmed[tick] = max(pts, self._unconfirmed.get(tick, pts))
                self.skipped += 1
            elif self._keyframe_seen or packet.is_keyframe:
                self._sent[tick] = max(pts, self._sent.get(tick, pts))
            self._keyframe_seen = self._keyframe_seen or packet.is_keyframe
            if len(self._sent) > 256:
                _forget_before(self._sent, tick - 128)
                _forget_before(self._seen, tick - 128)
        if skip != self._skipping:
            self.stream.codec_context.skip_frame = "NONREF" if skip else "DEFAULT"
            self._skipping = skip
        if skip and self._nal_length and _nonreference_slices_only(memoryview(packet), self._nal_length):
            self.left_out += 1
            return False
        return True

    def _tick(self, pts: int) -> int:
        """The fps filter's output tick for a stream timestamp (rounded to nearest, as the filter does)."""
        scaled = (pts - self._offset) * self._tick_num
        rounded = (2 * abs(scaled) + self._tick_den) // (2 * self._tick_den)
        return rounded if scaled >= 0 else -rounded

    def push(self, frame: av.VideoFrame) -> None:
        """Feed one decoded frame (timestamps are re-based on the container start, as the CLI does)."""
        if self.full:
            return
        pts = _frame_pts(frame, self._last_pts)
        self._last_pts = pts
        if self._skip:
            tick = self._tick(pts)
            self._seen[tick] = max(pts, self._seen.get(tick, pts))
            if tick in self._unconfirmed and pts > self._unconfirmed[tick]:
                del self._unconfirmed[tick]
        if self._discont:
            pts = self._bridge(pts + self._shift, frame)
        frame.pts = pts - self._offset
        setup = (frame.width, frame.height, frame.format.name)
        if setup != self._input:  # the first frame, or a new size / format: the CLI rebuilds its filters
            if self._graph is None:
                self._check_geometry(frame)
            self._graph, self._size = _build_graph(
                frame, self.stream.time_base, self.fps, self.short_side, self.interpolation, self.threads, self._size
            )
            self._input = setup
        self._graph.push(frame)
        self._pull()

    def _bridge(self, pts: int, frame: av.VideoFrame) -> int:
        """``pts`` shifted past a timestamp restart, as the CLI does for MPEG-TS (threshold: 10 s)."""
        tb = self.stream.time_base
        duration = frame.duration or 0
        if duration <= 0:
            rate = self.stream.average_rate or self.stream.guessed_rate or self.fps
            duration = max(1, round(1 / (Fraction(rate) * tb)))
        if self._next_pts is not None:
            delta = pts - self._next_pts
            last = self._next_pts - duration
            if abs(delta) * tb > DISCONTINUITY_THRESHOLD_S or (pts - last) * tb < -Fraction(1, 10):
                self._shift -= delta
                pts -= delta
                self.restarts += 1
        self._next_pts = pts + duration
        return pts

    def _check_geometry(self, frame: av.VideoFrame) -> None:
        """Refuse frames whose scaled size would be unbounded (see :data:`MAX_ASPECT_RATIO`)."""
        if self.short_side is None:
            return
        w, h = frame.width, frame.height
        if min(w, h) < 1 or max(w, h) > MAX_ASPECT_RATIO * min(w, h):
            long_side = max(w, h) * self.short_side // max(min(w, h), 1)
            raise MediaError(
                self.path,
                f"frame size {w}x{h} is refused: scaling its short side to {self.short_side} px "
                f"would make the long side {long_side} px, over the bound of "
                f"{MAX_ASPECT_RATIO} x {self.short_side} px (aspect ratio {MAX_ASPECT_RATIO}:1)",
            )

    def take(self) -> list[np.ndarray]:
        """The output frames ready so far (uint8 ``[H, W, 3]`` each), handed over: the sampler drops them."""
        ready, self._ready = self._ready, []
        return ready

    def flush(self) -> None:
        """End of stream: the filters give out their last frames (then :meth:`take` them). Idempotent."""
        if self._graph is None or self._flushed:
            return
        self._flushed = True
        if not self.full:
            self._graph.push(None)
            self._pull()

    def finish(self) -> torch.Tensor:
        """Flush the filters; the frames not taken as uint8 ``[T, H, W, 3]``. :class:`MediaError` if there are none."""
        if self._graph is None:
            raise MediaError(self.path, "no decodable video frames")
        self.flush()
        if not self._ready:
            raise MediaError(self.path, "no video frames at the requested rate")
        return torch.from_numpy(np.stack(self._ready))

    def _pull(self) -> None:
        """Move the filters' ready output into the frames to take, up to ``max_frames`` in all."""
        while not self.full:
            try:
                out = self._graph.vpull()
            except (av.BlockingIOError, av.EOFError):
                return
            image = out.to_ndarray()
            previous, current = _cfr_copies(self._count, out.pts, self._last_image is not None)
            for picture in [self._last_image] * previous + [image] * current:
                if self.full:
                    break
                self._ready.append(picture)
                self._count += 1
            if current:
                self._last_image = image


def _cfr_copies(written: int, pts: int | None, have_previous: bool) -> tuple[int, int]:
    """How many copies of the previous output frame and of this one the CLI's constant-rate output writes.

    ``written``: output frames so far; ``pts``: this frame's tick. The ``fps`` filter's ticks follow
    each other (one copy of each); a gap (the video starts late, the filters were rebuilt) is filled,
    and a frame far behind is dropped, by ``-vsync cfr``'s rule (``do_video_out``, frame duration 1).
    """
    if pts is None:
        return 0, 1
    delta0 = pts - written
    delta = delta0 + 1
    if delta < -1.1:
        return 0, 0
    total = round(delta) if delta > 1.1 else 1
    previous = round(delta0 - 0.6) if delta0 > 1.1 and have_previous else 0
    return previous, total - previous


def _avcc_nal_length(extradata: bytes | None) -> int | None:
    """Bytes of the size prefix of each NAL unit for length-prefixed H.264 (``avcC`` extradata), else ``None``."""
    if not extradata or len(extradata) < 7 or extradata[0] != 1:
        return None  # Annex B (start codes) or no extradata
    return (extradata[4] & 3) + 1


def _nonreference_slices_only(data: memoryview, nal_length: int) -> bool:
    """Whether a length-prefixed H.264 packet holds non-reference slices and nothing else a decoder keeps.

    Such a frame is what ``skip_frame=NONREF`` skips; parameter sets, SEI and anything unknown
    (or a packet that does not parse) make the answer ``False``.
    """
    end, at, slices = len(data), 0, 0
    while at < end:
        if at + nal_length >= end:
            return False
        size = int.from_bytes(data[at : at + nal_length], "big")
        at += nal_length
        if size == 0 or at + size > end:
            return False
        header = data[at]
        kind, ref_idc = header & 0x1F, header >> 5 & 3
        if header & 0x80 or ref_idc:  # forbidden bit set, or a reference picture's unit
            return False
        if kind == _H264_NAL_SLICE:
            slices += 1
        elif kind not in _H264_NAL_IGNORABLE:
            return False
        at += size
    return slices > 0


def _forget_before(ticks: dict[int, int], oldest: int) -> None:
    for tick in [t for t in ticks if t < oldest]:
        del ticks[tick]


def video_streams(container: av.container.InputContainer) -> list[av.video.stream.VideoStream]:
    """The container's video streams, leaving out attached pictures (cover art of audio files)."""
    return [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]


def _build_graph(
    frame: av.VideoFrame,
    time_base: Fraction,
    fps: float,
    short_side: int | None,
    interpolation: str,
    threads: int,
    keep_size: tuple[int, int] | None = None,
) -> tuple[av.filter.Graph, tuple[int, int]]:
    """The CLI's filters for frames like ``frame``, and their output size.

    ``keep_size``: the output size of the filters built for the stream's first frames; when the
    frame size or format changes, the CLI rebuilds its filters and appends a ``scale`` back to
    that size (its ``autoscale``), so the frames are scaled in two steps.
    """
    graph = av.filter.Graph()
    if threads:
        graph.threads = threads
    chain = [
        graph.add(
            "buffer",
            f"video_size={frame.width}x{frame.height}:pix_fmt={frame.format.name}"
            f":time_base={time_base.numerator}/{time_base.denominator}:pixel_aspect=1/1",
        )
    ]
    width, height = frame.width, frame.height
    for name, args in _upright_filters(frame):
        chain.append(graph.add(name, args))
        if name == "transpose":
            width, height = height, width
    chain.append(graph.add("fps", _fps_arg(fps)))
    if short_side is not None:  # the command's scale=W:H, its size computed once for the clip
        width, height = keep_size or output_size(width, height, short_side)
        chain.append(graph.add("scale", f"{width}:{height}:flags={interpolation}"))
    if keep_size is not None:
        width, height = keep_size
        chain.append(graph.add("scale", f"{width}:{height}:flags=bicubic"))  # the CLI's default sws_flags
    chain.append(graph.add("format", "rgb24"))
    chain.append(graph.add("buffersink"))
    for a, b in zip(chain, chain[1:]):
        a.link_to(b)
    graph.configure()
    return graph, (width, height)


def _upright_filters(frame: av.VideoFrame) -> list[tuple[str, str | None]]:
    """The filters FFmpeg's CLI (autorotate) inserts for the frame's display matrix."""
    side = frame.side_data.get(av.sidedata.sidedata.Type.DISPLAYMATRIX)
    if side is None:
        return []
    m = np.frombuffer(bytes(side), dtype="<i4")
    sx, sy = math.hypot(m[0], m[3]), math.hypot(m[1], m[4])
    if sx == 0 or sy == 0:
        return []
    rotation = -math.degrees(math.atan2(m[1] / sy, m[0] / sx))  # av_display_rotation_get
    theta = -round(rotation)
    theta -= 360 * math.floor(theta / 360 + 0.9 / 360)
    if abs(theta - 90) < 1:
        return [("transpose", "cclock_flip" if m[3] > 0 else "clock")]
    if abs(theta - 180) < 1:
        return [(name, None) for name, flip in (("hflip", m[0] < 0), ("vflip", m[4] < 0)) if flip]
    if abs(theta - 270) < 1:
        return [("transpose", "clock_flip" if m[3] < 0 else "cclock")]
    if abs(theta) > 1:
        return [("rotate", f"{theta:f}*PI/180")]
    return [("vflip", None)] if m[4] < 0 else []


def _start_offset(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> int:
    """The container start in ``stream`` time-base units, subtracted from every timestamp."""
    start = container.start_time  # microseconds, or None
    if start is None:
        return 0
    if container.format.flags & _AVFMT_TS_DISCONT and stream.start_time is not None:
        # the CLI re-bases such formats on the streams it decodes
        start = max(start, _rescale(stream.start_time, stream.time_base, Fraction(1, 1_000_000)))
    return _rescale(start, Fraction(1, 1_000_000), stream.time_base)


def _rescale(value: int, src: Fraction, dst: Fraction) -> int:
    """``av_rescale_q``: exact rescaling, rounded to nearest with halves away from zero."""
    exact = Fraction(value) * src / dst
    rounded = math.floor(abs(exact) + Fraction(1, 2))
    return rounded if exact >= 0 else -rounded


def _frame_pts(frame: av.VideoFrame, last_pts: int | None) -> int:
    if frame.pts is not None:
        return frame.pts
    if frame.dts is not None:
        return frame.dts
    return 0 if last_pts is None else last_pts + max(frame.duration or 1, 1)


def _fps_arg(fps: float) -> str:
    ratio = Fraction(fps).limit_denominator(1001 * 1000)
    return f"{ratio.numerator}/{ratio.denominator}"


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
