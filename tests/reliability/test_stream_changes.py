"""A video whose frame size or pixel format changes mid-stream is decoded as the FFmpeg CLI does.

Transport-stream segments of different sizes joined (a recording that switched quality)
change the frame size mid-stream. The CLI then builds its filters anew: the ``fps``
filter's pending frame is lost, the new frames are scaled to the first frames' size in
two steps, and its constant-rate output fills the gap. Keeping one filter graph instead
gave other pixels after the change and, after a gap, other frames (whole frames differing).
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from helpers.bad_media import cli_frames
from uavm.extraction.decode import decode_clip
from uavm.extraction.inputs import ClipInput
from uavm.feature_spec import FeatureSpec
from uavm.media.video_io import load_frames

pytestmark = pytest.mark.usefixtures("one_thread")

SEGMENTS = {  # name -> segments (size, rate, seconds, pixel format, start time in s)
    "size-and-gap": [("64x48", 10, 1.2, "yuv420p", 0), ("128x72", 10, 1, "yuv420p", 2.1)],
    "pixel-format": [("64x48", 25, 1, "yuv420p", 0), ("64x48", 25, 1, "yuv444p", 1.05)],
    "back-and-forth": [
        ("64x48", 25, 0.5, "yuv420p", 0),
        ("96x72", 25, 0.5, "yuv420p", 0.5),
        ("64x48", 25, 1, "yuv420p", 1),
    ],
}


@pytest.fixture(scope="module")
def joined(tmp_path_factory, ffmpeg_bin):
    folder = tmp_path_factory.mktemp("changes")
    out = {}
    for name, segments in SEGMENTS.items():
        parts = []
        for i, (size, rate, seconds, pix_fmt, start) in enumerate(segments):
            part = folder / f"{name}-{i}.ts"
            source = f"testsrc2=size={size}:rate={rate}:duration={seconds}"
            subprocess.run(
                [ffmpeg_bin, "-v", "error", "-y", "-f", "lavfi", "-i", source, "-c:v", "libx264"]
                + ["-preset", "ultrafast", "-pix_fmt", pix_fmt, "-output_ts_offset", str(start), str(part)],
                check=True,
                capture_output=True,
            )
            parts.append(part.read_bytes())
        out[name] = folder / f"{name}.ts"
        out[name].write_bytes(b"".join(parts))
    return out


@pytest.mark.parametrize("name", sorted(SEGMENTS))
def test_frames_after_a_size_or_format_change_are_the_cli_frames(joined, ffmpeg_bin, name):
    path = joined[name]
    ours = load_frames(path, short_side=24).numpy()
    assert ours.shape[1:] == (24, 32, 3)  # the first frames' size
    np.testing.assert_array_equal(ours, cli_frames(ffmpeg_bin, path, 32, 24))
    spec = FeatureSpec(audio_encoder=None, visual_encoder="random:tiny", short_side=24)
    clip = decode_clip(ClipInput(name, path), spec)
    np.testing.assert_array_equal(clip.frames, ours[: spec.seq_len])


def test_frames_keep_the_first_size_without_scaling(joined):
    frames = load_frames(joined["size-and-gap"], short_side=None)
    assert frames.shape[1:] == (48, 64, 3)
