"""Splitting extraction over processes: torchrun with two local workers gives the single-process store."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from uavm.errors import ConfigError
from uavm.extraction import ExtractOptions, extract, read_inputs
from uavm.extraction.distributed import choose_shard, parse_shard, part_path, shard_block, torchrun_shard
from uavm.extraction.failures import read_failures
from uavm.store import FeatureStore

from .conftest import SHORT_SIDE, TINY, single_thread_env
from .test_pipeline import assert_same_store

TORCHRUN = Path(sys.executable).with_name("torchrun")


def test_shard_blocks_cover_the_input_in_order():
    items = list(range(11))
    blocks = [shard_block(items, i, 3) for i in range(3)]
    assert sum(blocks, []) == items
    assert [len(b) for b in blocks] == [3, 4, 4]
    assert shard_block(items[:1], 0, 2) == [] and shard_block(items[:1], 1, 2) == [0]


def test_shard_specs(monkeypatch):
    assert parse_shard("2/5") == (2, 5)
    for bad in ("5/5", "x", "1/0", "-1/2"):
        with pytest.raises(ConfigError):
            parse_shard(bad)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert torchrun_shard() is None and choose_shard(None) is None
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    assert choose_shard(None) == (3, 4) and choose_shard("0/2") == (0, 2)


@pytest.mark.slow
def test_manual_shards_join_when_the_last_part_is_done(tmp_path, many_folder, tiny_extractor, reference_store):
    items = read_inputs(many_folder)
    options = ExtractOptions(workers=0, batch_size=1, shard_size=2, progress=False)
    second = extract(items, tmp_path / "store", tiny_extractor, options, shard=(1, 2))
    assert not second.merged and not (tmp_path / "store" / "store.json").exists()
    assert len(FeatureStore(part_path(tmp_path / "store", 1, 2))) == 3  # 4 items, one broken
    first = extract(items, tmp_path / "store", tiny_extractor, options, shard=(0, 2))
    assert first.merged
    assert_same_store(FeatureStore(tmp_path / "store"), FeatureStore(reference_store))
    assert read_failures(tmp_path / "store" / "failures.csv") == read_failures(reference_store / "failures.csv")


@pytest.mark.slow
def test_torchrun_with_two_workers_gives_the_single_process_store(tmp_path, many_folder, reference_store):
    if not TORCHRUN.exists() and shutil.which("torchrun") is None:
        pytest.skip("torchrun is not installed")
    out = tmp_path / "store"
    cmd = [
        str(TORCHRUN if TORCHRUN.exists() else "torchrun"),
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "uavm",
        "extract",
        str(many_folder),
        "--out",
        str(out),
        "--workers",
        "1",
        "--batch-size",
        "1",
        "--shard-size",
        "2",
        "--audio-encoder",
        TINY,
        "--visual-encoder",
        TINY,
        "--short-side",
        str(SHORT_SIDE),
        "--quiet",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, env=single_thread_env(), timeout=600)
    assert done.returncode != 0, "a clip failed, so the job must say so"
    assert "all parts joined" in done.stdout, done.stdout + done.stderr
    for rank in range(2):
        assert len(FeatureStore(part_path(out, rank, 2))) > 0  # both processes did work
    merged = FeatureStore(out)
    assert_same_store(merged, FeatureStore(reference_store))
    assert read_failures(out / "failures.csv") == read_failures(reference_store / "failures.csv")
    assert np.array_equal(merged.read([0], "visual"), FeatureStore(part_path(out, 0, 2)).read([0], "visual"))
