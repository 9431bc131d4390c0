import numpy as np
import pytest

from uavm.data.sampling import balanced_weights, draw_epoch, epoch_rng, label_counts


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


def test_bad_weights_rejected():
    with pytest.raises(ValueError):
        draw_epoch(2, 3, np.array([0.0, 0.0]), epoch_rng(0, 0))
