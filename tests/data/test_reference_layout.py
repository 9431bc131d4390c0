"""The reference per-clip layout: reading its datafile and .npy files, writing a store back out in it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from uavm.data.reference_layout import export_reference, iter_reference_clips, load_reference_clip
from uavm.errors import UAVMError
from uavm.store import FeatureStore, FeatureStoreWriter


def reference_get_feat(path, seq_len):
    """The reference loader's padding rule, written out: zero-pad at the end or cut to ``seq_len``."""
    x = np.load(path).astype(np.float32)
    if len(x) < seq_len:
        x = np.concatenate([x, np.zeros((seq_len - len(x), x.shape[1]), np.float32)])
    return x[:seq_len]


@pytest.fixture
def reference_layout(tmp_path):
    rng = np.random.default_rng(1)
    (tmp_path / "a").mkdir()
    (tmp_path / "v").mkdir()
    data = []
    for i, frames in enumerate([30, 12, 31]):
        np.save(tmp_path / "a" / f"vid{i}.npy", rng.standard_normal((30, 16)).astype(np.float32))
        np.save(tmp_path / "v" / f"vid{i}.npy", rng.standard_normal((frames, 16)).astype(np.float16))
        data.append({"labels": "/m/x,/m/y" if i == 0 else "/m/x", "afeat": f"a/vid{i}.npy", "vfeat": f"v/vid{i}.npy"})
    (tmp_path / "train.json").write_text(json.dumps({"data": data}))
    return tmp_path / "train.json"


def test_reads_reference_clips_relative_to_the_datafile(reference_layout):
    clips = list(iter_reference_clips(reference_layout))
    assert [c.clip_id for c in clips] == ["vid0", "vid1", "vid2"]
    assert clips[0].labels == ["/m/x", "/m/y"]
    audio, visual = load_reference_clip(clips[1], dim=16)
    assert audio.dtype == np.float32 and audio.shape == (30, 16)
    assert visual.dtype == np.float16 and visual.shape == (12, 16)


def test_bad_feature_files_name_the_file(reference_layout):
    clip = next(iter_reference_clips(reference_layout))
    clip.afeat.write_bytes(b"junk")
    with pytest.raises(UAVMError, match="vid0.npy: not a readable"):
        load_reference_clip(clip)
    clip.afeat.unlink()
    with pytest.raises(UAVMError, match="vid0.npy: feature file not found"):
        load_reference_clip(clip)
    np.save(clip.afeat, np.zeros((30, 8), np.float32))
    with pytest.raises(UAVMError, match=r"expected \[T, 16\]"):
        load_reference_clip(clip, dim=16)


def test_export_is_readable_by_the_reference_loader(tmp_path, reference_layout):
    with FeatureStoreWriter(tmp_path / "store", seq_len=30, dim=16, shard_size=2) as w:
        for clip in iter_reference_clips(reference_layout):
            audio, visual = load_reference_clip(clip)
            w.add(clip.clip_id, str(clip.afeat), clip.labels, audio, visual if clip.clip_id != "vid1" else None)
    store = FeatureStore(tmp_path / "store")
    datafile = export_reference(store, tmp_path / "out")
    entries = json.loads(datafile.read_text())["data"]
    assert [e["labels"] for e in entries] == ["/m/x,/m/y", "/m/x", "/m/x"]
    for i, entry in enumerate(entries):
        assert np.load(entry["afeat"]).dtype == np.float32 and np.load(entry["vfeat"]).dtype == np.float16
        np.testing.assert_array_equal(reference_get_feat(entry["afeat"], 30), store.read([i], "audio")[0])
        np.testing.assert_array_equal(reference_get_feat(entry["vfeat"], 30), store.read([i], "visual")[0])
    assert np.load(entries[1]["vfeat"]).shape == (0, 16)  # no video: empty, the loader pads it with zeros
    assert np.load(entries[2]["vfeat"]).shape == (30, 16)  # 31 frames were cut to seq_len
