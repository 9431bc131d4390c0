"""Encoder specs: random:<size> is seeded, none skips a modality, sizes must agree."""

from __future__ import annotations

import pytest
import torch

from uavm.errors import ConfigError
from uavm.extraction.encoders import audio_input_for, resolve_audio_encoder, resolve_encoders, resolve_visual_encoder
from uavm.extraction.extractor import FeatureExtractor
from uavm.feature_spec import FeatureSpec
from uavm.features.audio_encoder import AudioEncoder
from uavm.features.filterbank import FBANK_STATS


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_random_specs_are_reproducible_and_leave_the_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = resolve_visual_encoder("random:tiny")
    assert torch.equal(torch.rand(1), before)
    assert same_weights(a, resolve_visual_encoder("random:tiny"))
    assert not same_weights(a, resolve_visual_encoder("random:tiny:1"))
    assert same_weights(resolve_audio_encoder("random:tiny:7"), resolve_audio_encoder("random:tiny:7"))


def test_none_skips_a_modality_but_not_both():
    encoders = resolve_encoders("none", "random:tiny")
    assert encoders.audio is None and encoders.dim == 768
    assert (
        FeatureExtractor(FeatureSpec("none", "random:tiny"), encoders=encoders).spec.to_dict()["audio_encoder"]
        == "none"
    )
    with pytest.raises(ConfigError, match="nothing to extract"):
        resolve_encoders("none", None)


def test_bad_specs_and_mismatched_sizes():
    with pytest.raises(ConfigError, match="random:<size>"):
        resolve_visual_encoder("random:huge")
    with pytest.raises(ConfigError, match="seed must be an integer"):
        resolve_audio_encoder("random:tiny:x")
    with pytest.raises(ConfigError, match="different feature sizes"):
        resolve_encoders("random:tiny", "random:base")


def test_audio_input_follows_the_encoder_dataset():
    assert audio_input_for(AudioEncoder("tiny", dataset="audioset")).target_frames == 1000
    vgg = audio_input_for(AudioEncoder("tiny", dataset=None))
    assert (vgg.target_frames, vgg.norm_mean, vgg.norm_std) == (990, *FBANK_STATS["vggsound"])
