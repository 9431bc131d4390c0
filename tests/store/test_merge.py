"""Merging parts written by separate workers gives the store one writer would have made."""

from __future__ import annotations

import numpy as np
import pytest

from uavm.errors import ConfigError
from uavm.store import FeatureStore, FeatureStoreWriter, merge_parts


def write(path, ids, shard_size=2):
    with FeatureStoreWriter(path, seq_len=3, dim=4, shard_size=shard_size, label_set="audioset") as w:
        for i in ids:
            w.add(
                f"c{i}", f"s{i}", [f"/m/{i}"], np.full((3, 4), i, np.float32), np.full((i % 3 + 1, 4), -i, np.float32)
            )


def logical(store: FeatureStore):
    everything = np.arange(len(store))
    return [r.to_json() for r in store.records], store.read(everything, "audio"), store.read(everything, "visual")


def test_two_parts_merge_to_the_single_writer_store(tmp_path):
    write(tmp_path / "single", range(9), shard_size=4)
    parts = [tmp_path / "merged" / "parts" / "p0", tmp_path / "merged" / "parts" / "p1"]
    write(parts[0], range(5))
    write(parts[1], range(5, 9))
    merge_parts(tmp_path / "merged", parts)
    merge_parts(tmp_path / "merged", parts)  # idempotent: running an interrupted merge again is safe
    single, merged = logical(FeatureStore(tmp_path / "single")), logical(FeatureStore(tmp_path / "merged"))
    assert merged[0] == single[0]
    np.testing.assert_array_equal(merged[1], single[1])
    np.testing.assert_array_equal(merged[2], single[2])
    assert FeatureStore(tmp_path / "merged").label_set == "audioset"


def test_overlapping_parts_are_refused(tmp_path):
    parts = [tmp_path / "m" / "a", tmp_path / "m" / "b"]
    write(parts[0], range(3))
    write(parts[1], range(2, 4))
    with pytest.raises(ConfigError, match="'c2' is also in another part"):
        merge_parts(tmp_path / "m", parts)
