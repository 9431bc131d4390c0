"""Class 4: a transport stream whose timestamps restart (two segments joined) is decoded as the FFmpeg CLI does.

Without bridging the restart, the second segment's frames fall before the first's
and the fps filter drops them: half the frames, silently.
"""

from __future__ import annotations

import numpy as np
import pytest

from helpers.bad_media import cli_frames, extract_args, make_clip, run_cli
from uavm.media.video_io import load_frames
from uavm.store import FeatureStore

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def joined_ts(tmp_path_factory, ffmpeg_bin):
    folder = tmp_path_factory.mktemp("ts")
    parts = []
    for name, source in (("a", "testsrc2"), ("b", "testsrc")):
        path = make_clip(ffmpeg_bin, folder / f"{name}.ts", seconds=4, extra=["-f", "mpegts"], pattern=source)
        parts.append(path.read_bytes())
    joined = tmp_path_factory.mktemp("joined") / "joined.ts"
    joined.write_bytes(b"".join(parts))  # both segments start at the same timestamp
    return joined


def test_restarted_timestamps_give_the_cli_frames(joined_ts, ffmpeg_bin):
    expected = cli_frames(ffmpeg_bin, joined_ts, 32, 24)
    assert len(expected) == 24  # 8 s at 3 fps
    np.testing.assert_array_equal(load_frames(joined_ts, short_side=24).numpy(), expected)


def test_extract_and_predict_keep_both_segments(joined_ts, tmp_path, tiny_checkpoint, capsys):
    code, _, err = run_cli(extract_args(joined_ts.parent, tmp_path / "store"), capsys)
    assert code == 0, err
    (record,) = FeatureStore(tmp_path / "store").records
    assert record.n_visual == 24
    code, out, err = run_cli(["predict", joined_ts, "--model", tiny_checkpoint, "--device", "cpu"], capsys)
    assert code == 0 and "note:" not in out, err
