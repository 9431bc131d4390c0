"""The modality probe: ~100 % on separable representations, ~50 % on identical distributions."""

from __future__ import annotations

import numpy as np
import pytest

from uavm.analysis.probe import clip_split, probe_by_layer


def test_separable_layer_near_100_and_identical_layer_near_50():
    rng = np.random.default_rng(0)
    n, dim = 400, 16
    audio = {0: rng.normal(size=(n, dim)), 1: rng.normal(size=(n, dim))}
    visual = {0: rng.normal(size=(n, dim)), 1: rng.normal(size=(n, dim))}
    audio[0][:, 3] += 3.0  # layer 0: modalities differ along one direction
    visual[0][:, 3] -= 3.0
    rows = probe_by_layer(audio, visual, seed=0)
    print("probe rows:", rows)
    assert [r["layer"] for r in rows] == [0, 1]
    assert rows[0]["test_acc"] > 0.98
    assert abs(rows[1]["test_acc"] - 0.5) < 0.08  # 400 test rows: std of chance ~ 0.025
    assert rows[0]["n_train_clips"] + rows[0]["n_test_clips"] == n


def test_clip_split_is_seeded_disjoint_and_complete():
    train, test = clip_split(101, seed=5)
    assert len(np.intersect1d(train, test)) == 0
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(101))
    assert len(test) == 50 or len(test) == 51
    again_train, _ = clip_split(101, seed=5)
    other_train, _ = clip_split(101, seed=6)
    assert np.array_equal(train, again_train) and not np.array_equal(train, other_train)


def test_halves_split_is_the_reference_first_and_second_half():
    train, test = clip_split(7, split="halves")
    assert train.tolist() == [0, 1, 2] and test.tolist() == [3, 4, 5, 6]


def test_bad_split_arguments():
    with pytest.raises(ValueError, match="split"):
        clip_split(10, split="odd-even")
    with pytest.raises(ValueError, match="at least 2"):
        clip_split(1)
