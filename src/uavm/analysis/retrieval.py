"""Cross-modal retrieval per layer: R@1/5/10 and median rank, both directions.

Each clip's time-pooled audio representation queries the visual representations of
all clips by cosine similarity (and the reverse); the hit is the paired clip.

Ties (see docs/reference.md): the reference counted one "hit" per candidate whose similarity
equals the paired one, so a query could score several times. Here every query gets
exactly one rank. The default is **pessimistic**: rank = the number of candidates
whose similarity is at least the paired clip's (so rank = 1 + strictly better + tied
others); a collapsed representation, where every candidate ties, gets the worst rank
rather than a perfect score. ``ties="optimistic"`` gives rank = 1 + strictly better
(the position of the reference's first hit). Similarities within ``tie_tol`` of the
paired one count as ties, so rounding in the matrix product cannot split a true tie.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..device import resolve_device

KS = (1, 5, 10)
TIES = ("pessimistic", "optimistic")


def retrieval_ranks(
    queries: np.ndarray | torch.Tensor,
    candidates: np.ndarray | torch.Tensor,
    ties: str = "pessimistic",
    tie_tol: float = 1e-6,
    device: str | torch.device | None = None,
    chunk_size: int = 8192,
) -> np.ndarray:
    """1-based rank of candidate ``i`` for query ``i`` under cosine similarity, per query.

    The similarity matrix is one matrix product per chunk of ``chunk_size`` queries
    (one product in all for up to 8192 queries), on ``device`` (default: CUDA when
    present), so memory stays bounded for large sets.
    """
    if ties not in TIES:
        raise ValueError(f"ties must be one of {TIES}, got {ties!r}")
    if len(queries) != len(candidates):
        raise ValueError(f"queries and candidates must pair up: {len(queries)} != {len(candidates)}")
    device = resolve_device(device)
    q = F.normalize(_tensor(queries, device), dim=1)
    c = F.normalize(_tensor(candidates, device), dim=1)
    ranks = []
    for start in range(0, len(q), chunk_size):
        sim = q[start : start + chunk_size] @ c.T
        rows = torch.arange(sim.shape[0], device=device)
        paired = sim[rows, rows + start].unsqueeze(1)
        if ties == "pessimistic":
            rank = (sim >= paired - tie_tol).sum(dim=1)
        else:
            rank = 1 + (sim > paired + tie_tol).sum(dim=1)
        ranks.append(rank.cpu())
    return torch.cat(ranks).numpy().astype(np.int64) if ranks else np.zeros(0, np.int64)


def _tensor(x: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    if torch.is_tensor(x):
        return x.to(device=device, dtype=torch.float32)
    return torch.from_numpy(np.array(x, dtype=np.float32)).to(device)  # a copy: inputs may be read-only memmaps


def recall_metrics(ranks: np.ndarray, ks: Sequence[int] = KS) -> dict[str, float]:
    """R@k (fraction of queries whose rank is <= k) and the median rank."""
    ranks = np.asarray(ranks)
    out = {f"R@{k}": float(np.mean(ranks <= k)) for k in ks}
    out["median_rank"] = float(np.median(ranks))
    return out


def cross_modal_retrieval(
    audio: np.ndarray, visual: np.ndarray, ks: Sequence[int] = KS, **rank_options: Any
) -> dict[str, dict[str, float]]:
    """Audio→visual (``"a2v"``) and visual→audio (``"v2a"``) retrieval metrics for paired rows."""
    return {
        "a2v": recall_metrics(retrieval_ranks(audio, visual, **rank_options), ks),
        "v2a": recall_metrics(retrieval_ranks(visual, audio, **rank_options), ks),
    }


def stratified_subset(labels: np.ndarray, per_class: int = 5, seed: int = 0) -> np.ndarray:
    """Sorted indices of a seeded subset with ``per_class`` clips of every class.

    ``labels`` is ``[N, C]`` multi-hot (or ``[N]`` class indices). Classes are visited
    in index order; each draws up to ``per_class`` clips carrying it that were not
    drawn yet (all of them if fewer). For single-label data that is exactly
    ``per_class`` clips per class, the reference's "5 test clips per class".
    """
    labels = np.asarray(labels)
    if labels.ndim == 1:
        labels = np.eye(int(labels.max()) + 1, dtype=bool)[labels]
    labels = labels > 0
    rng = np.random.default_rng(seed)
    chosen = np.zeros(len(labels), dtype=bool)
    for c in range(labels.shape[1]):
        members = np.flatnonzero(labels[:, c] & ~chosen)
        if len(members):
            chosen[rng.choice(members, size=min(per_class, len(members)), replace=False)] = True
    return np.flatnonzero(chosen)


def retrieval_by_layer(
    audio: dict[int, np.ndarray],
    visual: dict[int, np.ndarray],
    subset: np.ndarray | None = None,
    ks: Sequence[int] = KS,
    **rank_options: Any,
) -> list[dict[str, Any]]:
    """One row per layer: ``layer``, ``n_clips`` and ``a2v_R@k``/``v2a_R@k``/``*_median_rank``."""
    rows = []
    for layer in sorted(audio):
        a, v = np.asarray(audio[layer]), np.asarray(visual[layer])
        if subset is not None:
            a, v = a[subset], v[subset]
        result = cross_modal_retrieval(a, v, ks, **rank_options)
        row: dict[str, Any] = {"layer": layer, "n_clips": len(a)}
        for direction, metrics in result.items():
            row.update({f"{direction}_{name}": value for name, value in metrics.items()})
        rows.append(row)
    return rows


def plot_retrieval(rows: list[dict[str, Any]], stem: str, shaded: tuple[int, int] | None = None, k: int = 5) -> list:
    """R@k against layer for both directions (the paper's Figure 3(c) style)."""
    from .plots import AUDIO_COLOR, VISUAL_COLOR, plot_layer_curves

    layers = [r["layer"] for r in rows]
    n = rows[0]["n_clips"] if rows else 0
    curves = {
        "audio → visual": (layers, [r[f"a2v_R@{k}"] for r in rows]),
        "visual → audio": (layers, [r[f"v2a_R@{k}"] for r in rows]),
    }
    colors = {"audio → visual": AUDIO_COLOR, "visual → audio": VISUAL_COLOR}
    chance = min(k / n, 1.0) if n else None
    return plot_layer_curves(curves, stem, f"R@{k}", f"Cross-modal retrieval ({n} clips)", shaded, chance, colors)
