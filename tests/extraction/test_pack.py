"""`uavm pack`: the reference per-clip layout into a store, with failures and resuming."""

from __future__ import annotations

import json

import numpy as np
import pytest

from uavm.cli import main
from uavm.data.labels import load_labels
from uavm.extraction import pack_datafile
from uavm.extraction.failures import read_failures
from uavm.store import FeatureStore


@pytest.fixture
def released_layout(tmp_path):
    """Like the released VGGSound features: float32 audio [30, D], float16 visual [frames, D], a datafile."""
    mids = load_labels("vggsound").mids
    rng = np.random.default_rng(5)
    data, arrays = [], {}
    for i in range(5):
        audio = rng.standard_normal((30, 24)).astype(np.float32)
        visual = rng.standard_normal((25 + 3 * i, 24)).astype(np.float16)
        (tmp_path / "a_feat").mkdir(exist_ok=True)
        (tmp_path / "v_feat").mkdir(exist_ok=True)
        np.save(tmp_path / "a_feat" / f"id{i}.npy", audio)
        np.save(tmp_path / "v_feat" / f"id{i}.npy", visual)
        arrays[f"id{i}"] = (audio, visual)
        data.append(
            {"video_id": f"id{i}", "labels": mids[i], "afeat": f"a_feat/id{i}.npy", "vfeat": f"v_feat/id{i}.npy"}
        )
    data[3]["labels"] = "/m/not_a_vggsound_class"
    (tmp_path / "v_feat" / "id1.npy").unlink()
    (tmp_path / "test.json").write_text(json.dumps({"data": data}))
    return tmp_path / "test.json", arrays


def test_pack_converts_and_lists_what_it_could_not(tmp_path, released_layout):
    datafile, arrays = released_layout
    out = tmp_path / "store"
    with pytest.raises(SystemExit) as exit_info:
        main(["pack", str(datafile), "--out", str(out), "--labels", "vggsound", "--shard-size", "2", "--quiet"])
    assert exit_info.value.code == 2
    store = FeatureStore(out)
    assert [r.clip_id for r in store.records] == ["id0", "id2", "id4"] and store.label_set == "vggsound"
    for i, record in enumerate(store.records):
        audio, visual = arrays[record.clip_id]
        assert (record.n_audio, record.n_visual) == (30, min(len(visual), 30))
        np.testing.assert_array_equal(store.read([i], "audio")[0], audio.astype(np.float16))
        padded = np.zeros((30, 24), np.float16)
        padded[: min(len(visual), 30)] = visual[:30]
        np.testing.assert_array_equal(store.read([i], "visual")[0], padded)
    reasons = {f.clip_id: f.reason for f in read_failures(out / "failures.csv")}
    assert reasons.keys() == {"id1", "id3"}
    assert "id1.npy: feature file not found" in reasons["id1"]
    assert "not_a_vggsound_class" in reasons["id3"]


def test_pack_resumes(tmp_path, released_layout):
    datafile, _ = released_layout
    first = pack_datafile(datafile, tmp_path / "store", progress=False)
    assert (first.packed, first.failures) == (4, 1)
    second = pack_datafile(datafile, tmp_path / "store", progress=False)
    assert (second.already_done, second.packed, second.failures) == (4, 0, 1)
    assert len(FeatureStore(tmp_path / "store")) == 4
