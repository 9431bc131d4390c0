import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from uavm.train.metrics import accuracy, classification_metrics, d_prime, per_class_ap, per_class_auc


def test_accuracy_by_hand():
    scores = np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.3, 0.4, 0.3]])
    targets = np.eye(3)[[1, 0, 0, 2]]
    assert accuracy(scores, targets) == 0.5


def test_average_precision_and_auc_by_hand():
    # one class: scores ranked 0.9(+), 0.8(-), 0.7(+), 0.1(-)
    scores = np.array([[0.9], [0.8], [0.7], [0.1]])
    targets = np.array([[1], [0], [1], [0]])
    # AP = mean precision at each positive = (1/1 + 2/3) / 2
    assert per_class_ap(scores, targets)[0] == pytest.approx((1 + 2 / 3) / 2)
    # AUC = fraction of (pos, neg) pairs ranked right: (0.9>0.8, 0.9>0.1, 0.7<0.8, 0.7>0.1) = 3/4
    assert per_class_auc(scores, targets)[0] == pytest.approx(0.75)


def test_against_scikit_learn_on_random_multilabel_data():
    rng = np.random.default_rng(0)
    targets = (rng.random((200, 12)) < 0.2).astype(float)
    targets[:, 3] = 0  # no positives: left out
    scores = targets * 0.7 + rng.random((200, 12))
    m = classification_metrics(scores, targets)
    valid = [k for k in range(12) if k != 3]
    ap = [average_precision_score(targets[:, k], scores[:, k]) for k in valid]
    auc = [roc_auc_score(targets[:, k], scores[:, k]) for k in valid]
    assert m["mAP"] == pytest.approx(np.mean(ap), rel=1e-12)
    assert m["mAUC"] == pytest.approx(np.mean(auc), rel=1e-12)
    assert m["d_prime"] == pytest.approx(_dprime_ref(np.mean(auc)), rel=1e-9)
    assert math.isnan(per_class_ap(scores, targets)[3])


def _dprime_ref(auc):
    # inverse normal CDF by bisection on erf, independent of scipy
    lo, hi = -10.0, 10.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if 0.5 * (1 + math.erf(mid / math.sqrt(2))) < auc:
            lo = mid
        else:
            hi = mid
    return math.sqrt(2) * lo


def test_d_prime_known_values():
    assert d_prime(0.5) == pytest.approx(0.0, abs=1e-12)
    assert d_prime(0.8413447460685429) == pytest.approx(math.sqrt(2), rel=1e-9)


def test_soft_targets_are_binarised():
    scores = np.array([[0.2, 0.8], [0.9, 0.1], [0.4, 0.6]])
    soft = np.array([[0.05, 0.95], [0.95, 0.05], [0.05, 0.95]])
    assert classification_metrics(scores, soft)["mAUC"] == 1.0
