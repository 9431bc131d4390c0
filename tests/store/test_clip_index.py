"""The columnar clip index: written beside index.json, read without per-clip objects, kept consistent.

Expectations come from the shards' own files read here directly (``index.json`` with ``json``,
the feature arrays with ``np.load``), not from the reader under test.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from uavm.data.dataset import StoreDataset
from uavm.data.labels import load_labels
from uavm.errors import ConfigError
from uavm.store import FeatureStore, FeatureStoreWriter, merge_parts

LEGACY = Path(__file__).parent.parent / "fixtures" / "legacy" / "store"


def _json_records(store: Path) -> list[dict]:
    """Every record of the store from its shards' index.json files, in manifest order."""
    manifest = json.loads((store / "store.json").read_text())
    return [item for s in manifest["shards"] for item in json.loads((store / s["name"] / "index.json").read_text())]


def _npy_clip(store: Path, clip: int, modality: str) -> np.ndarray:
    """Clip ``clip``'s padded rows read straight from its shard's array (zeros where the shard lacks it)."""
    manifest = json.loads((store / "store.json").read_text())
    for s in manifest["shards"]:
        if clip < s["rows"]:
            if modality not in s["modalities"]:
                return np.zeros((manifest["seq_len"], manifest["dim"]), np.float16)
            return np.load(store / s["name"] / f"{modality}.npy")[clip]
        clip -= s["rows"]
    raise IndexError(clip)


def _write(path: Path, ids: range, shard_size: int = 4, **kw) -> None:
    rng = np.random.default_rng(len(ids))
    with FeatureStoreWriter(path, seq_len=5, dim=3, shard_size=shard_size, label_set="vggsound", **kw) as w:
        for i in ids:
            audio = rng.standard_normal((5, 3)) if i % 5 else None  # some clips (and shards) without audio
            w.add(
                f"clip-{i}",
                f"videos/ü{i}.mp4",
                [f"vgg_{i % 7}", f"vgg_{(i * 3) % 11}"][: 1 + i % 2],
                audio,
                rng.standard_normal((2 + i % 4, 3)),
            )


def _check_consistent(path: Path) -> None:
    store = FeatureStore(path)
    want = _json_records(path)
    assert [r.to_json() for r in store.records] == want
    assert len(store) == len(want)
    for shard in json.loads((path / "store.json").read_text())["shards"]:
        assert (path / shard["name"] / "clips.npy").is_file()
    order = np.random.default_rng(0).integers(0, len(want), 40)
    shifts = np.random.default_rng(1).integers(-4, 4, 40)
    for modality in ("audio", "visual"):
        got, rolled = store.read(order, modality), store.read(order, modality, shifts)
        for k, i in enumerate(order):
            clip = _npy_clip(path, int(i), modality)
            np.testing.assert_array_equal(got[k], clip)
            np.testing.assert_array_equal(rolled[k], np.roll(clip, shifts[k], 0))


def test_round_trip(tmp_path):
    _write(tmp_path / "s", range(23))
    _check_consistent(tmp_path / "s")
    store = FeatureStore(tmp_path / "s")
    assert store.records[6].labels == ["vgg_6"] and store.records[7].source == "videos/ü7.mp4"
    assert store.index_of("clip-9") == 9


def test_the_per_shard_fallback_reads_the_same(tmp_path, monkeypatch):
    _write(tmp_path / "s", range(23), shard_size=3)
    store = FeatureStore(tmp_path / "s")
    order, shifts = np.arange(23)[::-1], np.arange(23) % 5 - 2
    joint = store.read(order, "audio", shifts), store.read(order, "visual")
    monkeypatch.setattr(store, "_joint_map", lambda modality: None)
    np.testing.assert_array_equal(store.read(order, "audio", shifts), joint[0])
    np.testing.assert_array_equal(store.read(order, "visual"), joint[1])


def test_a_store_written_by_the_previous_code_opens_and_is_upgraded(tmp_path):
    legacy = tmp_path / "legacy"
    shutil.copytree(LEGACY, legacy)
    assert not (legacy / "shard-00000" / "clips.npy").exists()
    before = FeatureStore(legacy)  # read from index.json
    assert [r.to_json() for r in before.records] == _json_records(LEGACY)
    audio = before.read([1, 0], "audio")
    FeatureStoreWriter(legacy, seq_len=before.seq_len, dim=before.dim).close()  # a writer upgrades in place
    assert (legacy / "shard-00000" / "clips.npy").is_file()
    assert not [p for p in (legacy / "shard-00000").iterdir() if ".tmp" in p.name]
    _check_consistent(legacy)
    np.testing.assert_array_equal(FeatureStore(legacy).read([1, 0], "audio"), audio)
    assert not (LEGACY / "shard-00000" / "clips.npy").exists()  # the fixture itself is untouched


def test_merge_keeps_the_index(tmp_path):
    store = tmp_path / "merged"
    _write(store / "parts" / "p0", range(0, 9))
    _write(store / "parts" / "p1", range(9, 20))
    merge_parts(store, [store / "parts" / "p0", store / "parts" / "p1"])
    _check_consistent(store)
    assert [r.clip_id for r in FeatureStore(store).records] == [f"clip-{i}" for i in range(20)]
    _write(store / "parts" / "p2", range(5, 7))
    with pytest.raises(ConfigError, match="clip-5.*also in another part"):
        merge_parts(store, [store / "parts" / "p0", store / "parts" / "p1", store / "parts" / "p2"])


def test_pickled_store_carries_no_per_clip_objects(tmp_path):
    _write(tmp_path / "s", range(50))
    ds = StoreDataset(tmp_path / "s", load_labels("vggsound"))
    ds.store.index_of("clip-3")  # builds the id lookup; it must not travel
    ds.store.records[3]
    copy = pickle.loads(pickle.dumps(ds))

    def python_containers(obj, seen=None):
        seen = seen if seen is not None else set()
        if id(obj) in seen:
            return []
        seen.add(id(obj))
        found = [obj] if isinstance(obj, (list, dict, set, tuple)) and len(obj) >= 50 else []
        children = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple, set)) else []
        if hasattr(obj, "__dict__") and not isinstance(obj, type):
            children = [*children, *vars(obj).values()]
        for child in children:
            if not isinstance(child, (np.ndarray, str, bytes, int, float)):
                found += python_containers(child, seen)
        return found

    assert python_containers(copy.store) == [] and python_containers(copy.label_indices) == []
    np.testing.assert_array_equal(copy.read(np.arange(50), "v"), ds.read(np.arange(50), "v"))
    assert copy.label_indices == ds.label_indices and list(copy.clip_ids) == [f"clip-{i}" for i in range(50)]


SLOW_WRITER = """
import sys, time
import numpy as np
from uavm.store import FeatureStoreWriter
with FeatureStoreWriter(sys.argv[1], seq_len=5, dim=3, shard_size=2, label_set="vggsound") as w:
    for i in range(10_000):
        w.add(f"clip-{i}", "x.mp4", ["vgg_1"], np.ones((5, 3)), None)
        time.sleep(0.002)
"""


def test_resume_after_kill_keeps_the_index_consistent(tmp_path):
    path = tmp_path / "s"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(path)], env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if (path / "store.json").exists() and json.loads((path / "store.json").read_text())["num_clips"] >= 20:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the writer committed nothing")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with FeatureStoreWriter(path, seq_len=5, dim=3, shard_size=2, label_set="vggsound") as w:
        done = w.done_ids
        assert done == {r["clip_id"] for r in _json_records(path)}
        for i in range(len(done), len(done) + 5):
            w.add(f"clip-{i}", "x.mp4", ["vgg_2"], np.ones((5, 3)), None)
    _check_consistent(path)
    assert [r.clip_id for r in FeatureStore(path).records] == [f"clip-{i}" for i in range(len(done) + 5)]
