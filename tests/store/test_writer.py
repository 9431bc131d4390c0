"""Writing a store: padding, counts, atomic shard commits, resuming, a real SIGKILL mid-write."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from uavm.errors import ConfigError, UAVMError
from uavm.store import FeatureStore, FeatureStoreWriter


def features(seed: int, steps: int, dim: int = 8) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((steps, dim)).astype(np.float32)


def test_pads_cuts_and_records_counts(tmp_path):
    with FeatureStoreWriter(tmp_path / "s", seq_len=6, dim=8, shard_size=10, label_set="vggsound") as w:
        w.add("long", "a.mp4", ["/m/a", "/m/b"], features(0, 9), features(1, 3))
        w.add("silent", "b.mp4", ["/m/a"], None, features(2, 6))
    store = FeatureStore(tmp_path / "s")
    long, silent = store.records
    assert (long.n_audio, long.n_visual, long.has_audio, long.has_visual) == (6, 3, True, True)
    assert (silent.n_audio, silent.n_visual, silent.has_audio, silent.has_visual) == (0, 6, False, True)
    assert long.labels == ["/m/a", "/m/b"] and long.source == "a.mp4" and store.label_set == "vggsound"
    audio = store.read([0, 1], "audio")
    visual = store.read([0, 1], "visual")
    assert audio.dtype == np.float16 and audio.shape == (2, 6, 8)
    np.testing.assert_array_equal(audio[0], features(0, 9)[:6].astype(np.float16))  # cut at the end
    np.testing.assert_array_equal(visual[0, :3], features(1, 3).astype(np.float16))
    assert not visual[0, 3:].any() and not audio[1].any()  # zero padding, zeros for the absent modality


def test_commits_a_shard_every_shard_size_clips(tmp_path):
    w = FeatureStoreWriter(tmp_path / "s", seq_len=2, dim=8, shard_size=3)
    for i in range(7):
        w.add(f"c{i}", "x", [], features(i, 2), None)
    manifest = json.loads((tmp_path / "s" / "store.json").read_text())
    assert [s["rows"] for s in manifest["shards"]] == [3, 3]  # the 7th clip is still buffered
    assert w.done_ids == {f"c{i}" for i in range(6)} and "c6" in w
    w.close()
    store = FeatureStore(tmp_path / "s")
    assert [(r.shard, r.row) for r in store.records] == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (2, 0)]
    assert store.manifest.shards[0].modalities == ["audio"]  # no visual array written when no clip has video
    assert not (tmp_path / "s" / store.manifest.shards[0].name / "visual.npy").exists()


def test_resume_skips_done_clips_and_appends(tmp_path):
    with FeatureStoreWriter(tmp_path / "s", seq_len=2, dim=8, shard_size=2) as w:
        for i in range(3):
            w.add(f"c{i}", "x", [], features(i, 2), features(i, 2))
    with FeatureStoreWriter(tmp_path / "s", seq_len=2, dim=8, shard_size=2) as w:
        assert w.done_ids == {"c0", "c1", "c2"}
        with pytest.raises(UAVMError, match="already in the store"):
            w.add("c1", "x", [], features(1, 2), None)
        w.add("c3", "x", [], features(3, 2), features(3, 2))
    store = FeatureStore(tmp_path / "s")
    assert [r.clip_id for r in store.records] == ["c0", "c1", "c2", "c3"]
    np.testing.assert_array_equal(store.read([3], "audio")[0], features(3, 2).astype(np.float16))


def test_an_exception_inside_the_block_keeps_finished_clips(tmp_path):
    with pytest.raises(RuntimeError):
        with FeatureStoreWriter(tmp_path / "s", seq_len=2, dim=8, shard_size=100) as w:
            w.add("c0", "x", [], features(0, 2), None)
            raise RuntimeError("boom")
    assert [r.clip_id for r in FeatureStore(tmp_path / "s").records] == ["c0"]


def test_leftovers_of_an_interrupted_commit_are_removed(tmp_path):
    with FeatureStoreWriter(tmp_path / "s", seq_len=2, dim=8, shard_size=1) as w:
        w.add("c0", "x", [], features(0, 2), None)
    (tmp_path / "s" / ".shard-00001.tmp999").mkdir()  # died while writing a shard
    (tmp_path / "s" / "shard-00007").mkdir()  # died between renaming a shard and listing it
    with FeatureStoreWriter(tmp_path / "s", seq_len=2, dim=8, shard_size=1) as w:
        assert w.done_ids == {"c0"}
    assert sorted(p.name for p in (tmp_path / "s").iterdir() if p.name != ".lock") == ["shard-00000", "store.json"]


def test_incompatible_reopen_wrong_shapes_and_a_second_writer(tmp_path):
    w = FeatureStoreWriter(tmp_path / "s", seq_len=2, dim=8, label_set="vggsound")
    with pytest.raises(UAVMError, match="another process"):
        FeatureStoreWriter(tmp_path / "s", seq_len=2, dim=8)
    with pytest.raises(UAVMError, match=r"expected \[T, 8\]"):
        w.add("bad", "x", [], np.zeros((3, 5)), None)
    w.close()
    with pytest.raises(ConfigError, match="seq_len 2, dim 8"):
        FeatureStoreWriter(tmp_path / "s", seq_len=30, dim=8)
    with pytest.raises(ConfigError, match="'vggsound', not 'audioset'"):
        FeatureStoreWriter(tmp_path / "s", seq_len=2, dim=8, label_set="audioset")


WRITER_SCRIPT = """
import sys, time, numpy as np
from uavm.store import FeatureStoreWriter
path, n = sys.argv[1], int(sys.argv[2])
with FeatureStoreWriter(path, seq_len=4, dim=16, shard_size=3) as w:
    for i in range(n):
        if f"c{i}" in w:
            continue
        w.add(f"c{i}", f"src{i}", ["/m/x"], np.full((4, 16), i, np.float32), np.full((2, 16), -i, np.float32))
        print(i, flush=True)
        time.sleep(0.02)
"""


def test_sigkill_mid_write_then_resume_gives_the_uninterrupted_store(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER_SCRIPT)
    n = 40
    subprocess.run([sys.executable, str(script), str(tmp_path / "whole"), str(n)], check=True, capture_output=True)

    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "killed"), str(n)], stdout=subprocess.PIPE, text=True
    )
    for line in proc.stdout:  # kill it once it is well inside the job
        if int(line) >= 17:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = FeatureStore(tmp_path / "killed")  # readable as it was left
    assert 0 < len(partial) < n and len(partial) % 3 == 0
    subprocess.run([sys.executable, str(script), str(tmp_path / "killed"), str(n)], check=True, capture_output=True)

    whole, resumed = FeatureStore(tmp_path / "whole"), FeatureStore(tmp_path / "killed")
    assert [r.to_json() for r in resumed.records] == [r.to_json() for r in whole.records]
    everything = np.arange(n)
    for modality in ("audio", "visual"):
        np.testing.assert_array_equal(resumed.read(everything, modality), whole.read(everything, modality))
