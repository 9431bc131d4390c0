"""Retrieval ranks, R@k and median rank on constructed embeddings with known answers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from uavm.analysis.retrieval import (
    cross_modal_retrieval,
    recall_metrics,
    retrieval_by_layer,
    retrieval_ranks,
    stratified_subset,
)

# Query i's similarity to candidate j is proportional to W[i, j] when the candidates
# are the basis vectors; the paired candidate is j == i.
W = np.array(
    [
        [5, 1, 1, 1, 1, 1],  # best: rank 1
        [3, 2, 1, 1, 1, 1],  # one better: rank 2
        [2, 2, 2, 0, 0, 0],  # tied with two others: 1 (optimistic) / 3 (pessimistic)
        [4, 4, 4, 1, 4, 4],  # five better: rank 6
        [0, 0, 0, 0, 1, 1],  # tied with one other: 1 / 2
        [1, 1, 1, 1, 1, 1],  # everything ties (collapsed): 1 / 6
    ],
    dtype=np.float32,
)
EYE = np.eye(6, dtype=np.float32)


def test_known_ranks_with_ties_both_tie_rules():
    assert retrieval_ranks(W, EYE).tolist() == [1, 2, 3, 6, 2, 6]
    assert retrieval_ranks(W, EYE, ties="optimistic").tolist() == [1, 2, 1, 6, 1, 1]


def test_known_metrics_in_both_directions():
    expected = {"R@1": 1 / 6, "R@5": 4 / 6, "R@10": 1.0, "median_rank": 2.5}
    # audio queries visual ...
    assert cross_modal_retrieval(W, EYE)["a2v"] == pytest.approx(expected)
    # ... and visual queries audio, with the roles swapped
    assert cross_modal_retrieval(EYE, W)["v2a"] == pytest.approx(expected)
    optimistic = cross_modal_retrieval(EYE, W, ties="optimistic")["v2a"]
    assert optimistic == pytest.approx({"R@1": 4 / 6, "R@5": 5 / 6, "R@10": 1.0, "median_rank": 1.0})


def _brute_force_ranks(queries: np.ndarray, candidates: np.ndarray) -> tuple[list[int], list[int]]:
    """Independent ranks for equal-norm integer vectors: cosine order = integer dot order."""
    pess, opt = [], []
    for i, q in enumerate(queries.astype(int)):
        dots = [int(np.dot(q, c)) for c in candidates.astype(int)]
        pess.append(sum(d >= dots[i] for d in dots))
        opt.append(1 + sum(d > dots[i] for d in dots))
    return pess, opt


def test_matches_brute_force_on_many_ties_and_chunking():
    rng = np.random.default_rng(0)
    patterns = np.array([p for p in itertools.product([0, 1], repeat=7) if sum(p) == 3], np.float32)
    audio = patterns[rng.integers(0, len(patterns), 60)]
    visual = patterns[rng.integers(0, len(patterns), 60)] * 2.5  # scale must not matter
    pess, opt = _brute_force_ranks(audio, visual)
    assert len(set(pess)) > 5 and pess != opt  # the data really has ties
    for chunk in (7, 8192):
        assert retrieval_ranks(audio, visual, chunk_size=chunk).tolist() == pess
        assert retrieval_ranks(audio, visual, ties="optimistic", chunk_size=chunk).tolist() == opt
    v_pess, _ = _brute_force_ranks(visual / 2.5, audio)
    assert retrieval_ranks(visual, audio).tolist() == v_pess


def test_recall_metrics_counts_one_hit_per_query():
    metrics = recall_metrics(np.array([1, 1, 3, 12]), ks=(1, 5, 10))
    assert metrics == {"R@1": 0.5, "R@5": 0.75, "R@10": 0.75, "median_rank": 2.0}


def test_rejects_unpaired_inputs_and_unknown_tie_rule():
    with pytest.raises(ValueError, match="pair up"):
        retrieval_ranks(np.ones((3, 2)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="ties"):
        retrieval_ranks(W, EYE, ties="random")


def test_stratified_subset_single_label_is_seeded_and_exact():
    labels = np.repeat(np.arange(10), 12)  # 10 classes x 12 clips
    labels[:9] = 10  # class 10 has only 9 clips; class 0 keeps 3
    subset = stratified_subset(labels, per_class=5, seed=3)
    counts = np.bincount(labels[subset], minlength=11)
    assert counts.tolist() == [3] + [5] * 9 + [5]
    assert np.array_equal(subset, np.sort(subset)) and len(set(subset)) == len(subset)
    assert np.array_equal(subset, stratified_subset(labels, per_class=5, seed=3))
    assert not np.array_equal(subset, stratified_subset(labels, per_class=5, seed=4))


def test_stratified_subset_multi_hot_covers_every_class():
    rng = np.random.default_rng(1)
    multi_hot = rng.random((200, 8)) < 0.2
    subset = stratified_subset(multi_hot, per_class=4, seed=0)
    per_class = multi_hot[subset].sum(axis=0)
    assert np.all(per_class >= np.minimum(4, multi_hot.sum(axis=0)))


def test_retrieval_by_layer_rows_and_subset():
    rng = np.random.default_rng(2)
    shared = rng.normal(size=(40, 8))
    audio = {0: rng.normal(size=(40, 8)), 1: shared + 0.01 * rng.normal(size=(40, 8))}
    visual = {0: rng.normal(size=(40, 8)), 1: shared}
    rows = retrieval_by_layer(audio, visual, subset=np.arange(0, 40, 2))
    assert [r["layer"] for r in rows] == [0, 1] and rows[0]["n_clips"] == 20
    assert rows[1]["a2v_R@1"] == 1.0 and rows[1]["v2a_median_rank"] == 1.0
    assert rows[0]["a2v_R@1"] < 0.5
