"""Classification metrics of the paper: top-1 accuracy, mAP, mean ROC-AUC and d′.

Accuracy compares the arg-max of the scores with the arg-max of the targets
(single-label data). mAP and mAUC are means over classes of scikit-learn's
per-class average precision and ROC-AUC; classes that have no positive (or no
negative) clip in the evaluated set have neither and are left out of the means
(the reference would fail on them). d′ = √2·Φ⁻¹(mAUC).
"""

from __future__ import annotations

import math

import numpy as np

try:
    from scipy.stats import norm
    from sklearn.metrics import average_precision_score, roc_auc_score
except ImportError as _exc:  # a core install: say which extra, in one line
    from ..extras import missing_extra

    _error = missing_extra(_exc, "uavm.train", "train")
    if _error is None:
        raise
    raise _error from None


def accuracy(scores: np.ndarray, targets: np.ndarray) -> float:
    """Fraction of rows whose highest score is at the target's highest entry."""
    scores, targets = np.asarray(scores), np.asarray(targets)
    return float(np.mean(scores.argmax(axis=1) == targets.argmax(axis=1)))


def scorable_classes(targets: np.ndarray) -> np.ndarray:
    """Indices of classes with at least one positive and one negative clip."""
    positives = (np.asarray(targets) > 0.5).sum(axis=0)
    return np.flatnonzero((positives > 0) & (positives < len(targets)))


def per_class_ap(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Average precision per class; NaN where a class cannot be scored."""
    return _per_class(average_precision_score, scores, targets)


def per_class_auc(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """ROC-AUC per class; NaN where a class cannot be scored."""
    return _per_class(roc_auc_score, scores, targets)


def _per_class(metric, scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    scores, binary = np.asarray(scores, dtype=np.float64), (np.asarray(targets) > 0.5).astype(np.int64)
    out = np.full(scores.shape[1], np.nan)
    valid = scorable_classes(binary)
    if len(valid):
        out[valid] = metric(binary[:, valid], scores[:, valid], average=None)
    return out


def d_prime(auc: float) -> float:
    """Sensitivity index d′ = √2·Φ⁻¹(AUC)."""
    return float(math.sqrt(2.0) * norm.ppf(auc))


def classification_metrics(scores: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    """``acc``, ``mAP``, ``mAUC`` and ``d_prime`` of ``scores`` ``[N, C]`` against ``targets`` ``[N, C]``."""
    ap = per_class_ap(scores, targets)
    auc = per_class_auc(scores, targets)
    m_auc = float(np.nanmean(auc)) if np.isfinite(auc).any() else float("nan")
    return {
        "acc": accuracy(scores, targets),
        "mAP": float(np.nanmean(ap)) if np.isfinite(ap).any() else float("nan"),
        "mAUC": m_auc,
        "d_prime": d_prime(m_auc) if math.isfinite(m_auc) else float("nan"),
    }
