"""FeatureSpec: one serialisable value for how features are made, readable from older files."""

import json
from pathlib import Path

import pytest

from uavm.errors import ConfigError
from uavm.feature_spec import FbankSpec, FeatureSpec
from uavm.store import FeatureStore
from uavm.store.records import stored_feature_settings

LEGACY = Path(__file__).parents[1] / "fixtures" / "legacy"


def test_defaults_are_the_papers_features():
    spec = FeatureSpec()
    assert (spec.audio_encoder, spec.visual_encoder) == ("audio_encoder_vggsound", "convnext_base_imagenet")
    assert (spec.fps, spec.short_side, spec.interpolation, spec.seq_len) == (3, 224, "bicubic", 30)
    assert (spec.fbank.target_frames, spec.fbank.norm_mean, spec.fbank.norm_std) == (990, -5.081, 4.4849)
    assert spec.seconds == 10


def test_round_trip_through_json():
    spec = FeatureSpec(
        "random:tiny:1",
        "random:small",
        FbankSpec(1000, -4.2677, 4.5690),
        fps=2.5,
        short_side=96,
        interpolation="bilinear",
        seq_len=12,
    )
    doc = json.loads(json.dumps(spec.to_dict()))
    assert FeatureSpec.from_dict(doc) == spec
    assert spec.differences(FeatureSpec.from_dict(doc)) == []


def test_the_dictionary_keeps_the_keys_older_files_used():
    doc = FeatureSpec(short_side=32).to_dict()
    assert list(doc) == [
        "audio_encoder",
        "visual_encoder",
        "audio_fbank",
        "fps",
        "short_side",
        "interpolation",
        "seq_len",
    ]
    assert doc["audio_fbank"] == {"target_frames": 990, "norm_mean": -5.081, "norm_std": 4.4849}


def test_a_skipped_modality_is_written_none_and_reads_back_as_skipped():
    spec = FeatureSpec("none", "random:tiny")
    assert spec.audio_encoder is None and not spec.audio and spec.visual
    doc = spec.to_dict()
    assert doc["audio_encoder"] == "none" and "audio_fbank" not in doc
    assert FeatureSpec.from_dict(doc) == spec
    assert FeatureSpec.from_dict({**doc, "audio_encoder": None}) == spec


def test_the_legacy_store_manifest_reads_with_the_manifests_seq_len():
    store = FeatureStore(LEGACY / "store")
    spec = store.feature_spec
    assert spec == FeatureSpec("random:tiny:1", "random:tiny:2", short_side=32, seq_len=store.seq_len)
    assert store.seq_len == 4
    settings = stored_feature_settings(LEGACY / "store")
    assert settings == {**{k: v for k, v in store.metadata.items() if k != "complete"}, "seq_len": 4}


def test_a_folder_that_is_not_a_store_has_no_settings(tmp_path):
    assert stored_feature_settings(tmp_path) == {}
    assert stored_feature_settings(tmp_path / "data.json") == {}


def test_differences_name_each_changed_key():
    a = FeatureSpec(short_side=32)
    b = a.replace(short_side=48, fbank=FbankSpec(target_frames=1000))
    assert [(k, old, new) for k, old, new in a.differences(b) if k != "audio_fbank"] == [("short_side", 32, 48)]
    assert [k for k, _, _ in a.differences(b)] == ["audio_fbank", "short_side"]


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"fps": "fast"}, "fps must be a number"),
        ({"fps": 0}, "fps must be in"),
        ({"short_side": 3.5}, "short_side must be a number"),
        ({"interpolation": "nearest"}, "interpolation must be one of"),
        ({"seq_len": 0}, "seq_len must be a positive integer"),
        ({"audio_encoder": "none", "visual_encoder": "off"}, "nothing to extract"),
        ({"audio_encoder": 3}, "audio_encoder must be a string"),
        ({"audio_fbank": {"target_frames": 990, "hop": 10}}, "unknown fbank setting 'hop'"),
        ({"audio_fbank": {"norm_std": 0}}, "norm_std must be positive"),
    ],
)
def test_bad_settings_are_one_line_errors_naming_the_source(doc, message):
    with pytest.raises(ConfigError, match=message) as info:
        FeatureSpec.from_dict(doc, "x/store.json")
    assert str(info.value).startswith("x/store.json: ") and "\n" not in str(info.value)


def test_other_keys_of_a_model_info_are_ignored():
    spec = FeatureSpec.from_dict({"labels": "vggsound", "loss": "ce", "feat_norm": True, "fps": 3})
    assert spec == FeatureSpec()
