import numpy as np
import pytest

from uavm.data.sampling import EpochSampler, balanced_weights, draw_epoch, epoch_rng, label_counts, rank_share


def test_weights_match_hand_computation():
    labels = [[0], [0], [1], [0, 1], [2]]
    # counts: class 0 -> 3, class 1 -> 2, class 2 -> 1, class 3 -> 0
    np.testing.assert_array_equal(label_counts(labels, 4), [3, 2, 1, 0])
    w0, w1, w2 = 1000 / 3.01, 1000 / 2.01, 1000 / 1.01
    np.testing.assert_allclose(balanced_weights(labels, 4), [w0, w0, w1, w0 + w1, w2], rtol=1e-12)
    assert w0 == pytest.approx(332.2259136)


def test_weighted_draw_follows_the_weights():
    weights = np.array([1.0, 3.0, 0.0, 6.0])
    draws = draw_epoch(4, 200_000, weights, epoch_rng(0, 1))
    freq = np.bincount(draws, minlength=4) / len(draws)
    np.testing.assert_allclose(freq, [0.1, 0.3, 0.0, 0.6], atol=0.005)


def test_unweighted_epoch_is_a_permutation():
    draws = draw_epoch(10, 10, None, epoch_rng(3, 0))
    assert sorted(draws.tolist()) == list(range(10))


def test_sampler_is_deterministic_per_seed_and_epoch():
    w = balanced_weights([[0], [1], [1], [1]], 2)
    a, b = EpochSampler(4, w, seed=7), EpochSampler(4, w, seed=7)
    a.set_epoch(2)
    b.set_epoch(2)
    assert list(a) == list(b) and len(a) == 4
    b.set_epoch(3)
    assert list(a) != list(b) or list(a) == []
    assert list(EpochSampler(4, w, num_samples=50, seed=7)) != list(EpochSampler(4, w, num_samples=50, seed=8))


def test_ranks_split_the_same_epoch():
    w = np.arange(1, 21, dtype=float)
    full = EpochSampler(20, w, num_samples=21, seed=1)
    full.set_epoch(5)
    shares = []
    for rank in range(2):
        s = EpochSampler(20, w, num_samples=21, seed=1, rank=rank, world_size=2)
        s.set_epoch(5)
        assert len(s) == 10
        shares.append(list(s))
    interleaved = [x for pair in zip(*shares) for x in pair]
    assert interleaved == list(full)[:20]
    np.testing.assert_array_equal(rank_share(np.arange(7), 1, 3), [1, 4])


def test_bad_weights_rejected():
    with pytest.raises(ValueError):
        draw_epoch(2, 3, np.array([0.0, 0.0]), epoch_rng(0, 0))
