"""Reading a store: batch gathers equal per-clip data, one gather per shard, pickling for workers."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from uavm.errors import UAVMError
from uavm.store import FeatureStore, FeatureStoreWriter


@pytest.fixture
def store_and_truth(tmp_path):
    rng = np.random.default_rng(0)
    truth = {}
    with FeatureStoreWriter(tmp_path / "s", seq_len=4, dim=6, shard_size=3) as w:
        for i in range(8):
            audio = rng.standard_normal((4, 6)).astype(np.float16) if i % 3 else None
            visual = rng.standard_normal((1 + i % 4, 6)).astype(np.float16)
            w.add(f"c{i}", f"c{i}.mp4", [], audio, visual)
            padded = np.zeros((4, 6), np.float16)
            padded[: len(visual)] = visual
            truth[i] = (np.zeros((4, 6), np.float16) if audio is None else audio, padded)
    return FeatureStore(tmp_path / "s"), truth


def test_batch_read_in_any_order_with_repeats(store_and_truth):
    store, truth = store_and_truth
    order = [7, 0, 3, 3, 5, 1, -1]
    audio, visual = store.read(order, "audio"), store.read(np.array(order), "visual")
    assert audio.shape == (7, 4, 6) and visual.dtype == np.float16
    for k, i in enumerate(order):
        np.testing.assert_array_equal(audio[k], truth[i % 8][0])
        np.testing.assert_array_equal(visual[k], truth[i % 8][1])
    assert store.read([], "audio").shape == (0, 4, 6)


def test_one_gather_per_shard(store_and_truth, monkeypatch):
    store, _ = store_and_truth
    calls = []

    class Counting:
        def __init__(self, array):
            self.array = array

        def __getitem__(self, key):
            calls.append(key)
            return self.array[key]

    original = store._array
    monkeypatch.setattr(store, "_joint_map", lambda modality: None)  # the shard-by-shard path (no joint map)
    monkeypatch.setattr(store, "_array", lambda shard, modality: Counting(original(shard, modality)))
    store.read([0, 1, 2, 4, 5, 2, 0], "visual")  # shard 0 (rows 0-2) and shard 1 (rows 3-5)
    assert len(calls) == 2
    assert isinstance(original(0, "visual"), np.memmap)


def test_records_lookup_and_errors(store_and_truth):
    store, _ = store_and_truth
    assert len(store) == 8 and store.seq_len == 4 and store.dim == 6
    assert store.index_of("c5") == 5 and store.records[5].clip_id == "c5"
    with pytest.raises(UAVMError, match="not in the store"):
        store.index_of("nope")
    with pytest.raises(IndexError):
        store.read([8], "audio")
    with pytest.raises(ValueError, match="modality"):
        store.read([0], "text")
    with pytest.raises(UAVMError, match="not a feature store"):
        FeatureStore(store.path / "shard-00000")


def test_pickles_without_open_maps(store_and_truth):
    store, truth = store_and_truth
    store.read([0], "audio")
    clone = pickle.loads(pickle.dumps(store))
    assert clone._maps == {}
    np.testing.assert_array_equal(clone.read_clip(4)[1], truth[4][1])


def test_reads_within_one_shard_and_shards_without_a_modality(store_and_truth, tmp_path):
    store, truth = store_and_truth
    order = [2, 0, 2, 1]  # all in shard 0: the single-shard path, with a repeat
    audio = store.read(order, "audio")
    for k, i in enumerate(order):
        np.testing.assert_array_equal(audio[k], truth[i][0])

    with FeatureStoreWriter(tmp_path / "silent", seq_len=4, dim=6, shard_size=2) as w:
        for i in range(3):
            w.add(f"s{i}", f"s{i}.mp4", [], None, np.full((4, 6), i + 1, np.float16))
    silent = FeatureStore(tmp_path / "silent")
    for order in ([1, 0], [2, 0, 1]):  # one shard, then two
        assert not silent.read(order, "audio").any()
        np.testing.assert_array_equal(silent.read(order, "visual")[:, 0, 0], np.array(order) + 1)


def test_rolled_read_equals_torch_roll_of_each_clip(store_and_truth):
    store, truth = store_and_truth
    for order in ([7, 0, 3, 3, 5, 1], [2, 0, 2, 1]):  # several shards, then one
        shifts = np.array([1, -2, 0, 3, -4, 2])[: len(order)]
        for modality, which in (("audio", 0), ("visual", 1)):
            rolled = store.read(order, modality, shifts)
            for k, i in enumerate(order):
                expected = torch.roll(torch.from_numpy(truth[i][which]), int(shifts[k]), 0).numpy()
                np.testing.assert_array_equal(rolled[k], expected)
