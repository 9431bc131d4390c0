"""The model analyses as one resumable job: representations once, then probe, t-SNE,
retrieval and attention, each writing CSV/JSON numbers and PNG/PDF figures into one folder.

``summary.json`` records each analysis' status and headline numbers and is rewritten
after every step, so an interrupted job loses no finished analysis; a rerun with the
same model and data skips what is done (``force`` redoes it). An analysis that fails
is recorded with its one-line reason and the others still run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from ..atomic import write_json_atomic
from ..errors import UAVMError
from .representations import Batch, LayerRepresentations, compute_representations, shared_layer_span
from .tables import write_csv

ANALYSES = ("probe", "tsne", "retrieval", "attention")
REPRESENTATION_ANALYSES = ("probe", "tsne", "retrieval")
SUMMARY = "summary.json"


@dataclass
class AnalysisOptions:
    """Settings of the model analyses (defaults follow the paper / reference)."""

    device: str | None = None
    seed: int = 0
    probe_split: str = "random"
    probe_C: float = 1.0
    tsne_clips: int | None = 1000
    tsne_perplexity: float = 30.0
    retrieval_per_class: int | None = 5
    ties: str = "pessimistic"
    pre_norm: bool = False
    cache: bool = True
    force: bool = False
    progress: bool = True


def _probe(reps: LayerRepresentations, out: Path, opts: AnalysisOptions, shaded: Any) -> dict[str, Any]:
    from .probe import plot_probe, probe_by_layer

    rows = probe_by_layer(reps.audio, reps.visual, split=opts.probe_split, seed=opts.seed, C=opts.probe_C)
    write_csv(out / "probe.csv", rows)
    plot_probe(rows, str(out / "probe"), shaded)
    return {"test_acc": {r["layer"]: r["test_acc"] for r in rows}, "split": opts.probe_split}


def _tsne(reps: LayerRepresentations, out: Path, opts: AnalysisOptions, shaded: Any) -> dict[str, Any]:
    from .tsne import plot_tsne, tsne_by_layer, tsne_rows

    embeddings, clips = tsne_by_layer(reps, max_clips=opts.tsne_clips, seed=opts.seed, perplexity=opts.tsne_perplexity)
    write_csv(out / "tsne.csv", tsne_rows(embeddings, clips))
    plot_tsne(embeddings, str(out / "tsne"))
    return {"n_clips": len(clips)}


def _retrieval(reps: LayerRepresentations, out: Path, opts: AnalysisOptions, shaded: Any) -> dict[str, Any]:
    from .retrieval import plot_retrieval, retrieval_by_layer, stratified_subset

    subset = None
    note = "all clips"
    if opts.retrieval_per_class is not None:
        if reps.labels is None:
            note = "all clips (the data has no labels for a per-class subset)"
        else:
            subset = stratified_subset(reps.labels, opts.retrieval_per_class, opts.seed)
            note = f"{opts.retrieval_per_class} clips per class, seed {opts.seed}"
            write_json_atomic(out / "retrieval_subset.json", {"clips": subset.tolist(), "subset": note})
    rows = retrieval_by_layer(reps.audio, reps.visual, subset, ties=opts.ties, device=opts.device)
    write_csv(out / "retrieval.csv", rows)
    plot_retrieval(rows, str(out / "retrieval"), shaded)
    return {
        "subset": note,
        "ties": opts.ties,
        "n_clips": rows[0]["n_clips"],
        "a2v_R@5": {r["layer"]: r["a2v_R@5"] for r in rows},
        "v2a_R@5": {r["layer"]: r["v2a_R@5"] for r in rows},
    }


def _attention(
    model: nn.Module, batches: Iterable[Batch], out: Path, opts: AnalysisOptions, shaded: Any
) -> dict[str, Any]:
    from .attention import (
        plot_attention_difference,
        plot_mean_maps,
        plot_received_attention,
        save_attention_maps,
        summarize_attention,
    )

    summary = summarize_attention(model, batches, pre_norm=opts.pre_norm, device=opts.device, progress=opts.progress)
    rows = summary.rows()
    write_csv(out / "attention.csv", rows)
    save_attention_maps(summary, out / "attention_maps.npz")
    plot_mean_maps(summary, str(out / "attention_maps"))
    plot_received_attention(summary, str(out / "attention_received"))
    plot_attention_difference(summary, str(out / "attention_difference"), shaded)
    return {"mad": {r["layer"]: r["mad"] for r in rows}, "pre_norm": opts.pre_norm, "n_clips": summary.n_clips}


def read_summary(out_dir: str | Path) -> dict[str, Any]:
    """The job's ``summary.json``, or an empty one."""
    try:
        return json.loads((Path(out_dir) / SUMMARY).read_text())
    except (OSError, ValueError):
        return {}


def run_analyses(
    model: nn.Module,
    batches: Iterable[Batch],
    out_dir: str | Path,
    analyses: Sequence[str] = ANALYSES,
    options: AnalysisOptions | None = None,
    n_clips: int | None = None,
    data_key: str = "",
) -> dict[str, Any]:
    """Run ``analyses`` on ``model`` over ``batches`` (re-iterable ``(audio, visual, labels)``).

    ``data_key`` identifies model + data (e.g. checkpoint and data paths with their
    sizes and times); results recorded under another key are recomputed.
    Returns the summary; ``summary["failed"]`` lists analyses that did not finish.
    """
    opts = options or AnalysisOptions()
    if unknown := [a for a in analyses if a not in ANALYSES]:
        raise UAVMError(f"unknown analysis {', '.join(unknown)}; choose from {', '.join(ANALYSES)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = read_summary(out)
    if summary.get("data_key") != data_key:
        summary = {}
    summary.update({"data_key": data_key, "model": model.config.to_dict()})
    results: dict[str, Any] = summary.setdefault("results", {})
    settings = _comparable(opts)
    todo = [a for a in analyses if opts.force or not _is_done(results.get(a), settings)]
    shaded = shared_layer_span(model)
    reps = None
    if any(a in REPRESENTATION_ANALYSES for a in todo):
        reps = compute_representations(
            model,
            batches,
            device=opts.device,
            n_clips=n_clips,
            cache_dir=out / "representations" if opts.cache else None,
            cache_key=data_key,
            progress=opts.progress,
        )
        summary["n_clips"] = len(reps)
    for name in todo:
        try:
            if name == "attention":
                result = _attention(model, batches, out, opts, shaded)
            else:
                result = {"probe": _probe, "tsne": _tsne, "retrieval": _retrieval}[name](reps, out, opts, shaded)
            results[name] = {"status": "done", "options": settings, **result}
        except (UAVMError, ValueError) as exc:
            results[name] = {"status": "failed", "options": settings, "problem": str(exc)}
        write_json_atomic(out / SUMMARY, _jsonable(summary))
    write_json_atomic(out / SUMMARY, _jsonable(summary))
    summary["failed"] = [a for a in analyses if not _is_done(results.get(a), settings)]
    return summary


def _is_done(result: dict[str, Any] | None, settings: dict[str, Any]) -> bool:
    return bool(result) and result.get("status") == "done" and result.get("options") == settings


def _comparable(opts: AnalysisOptions) -> dict[str, Any]:
    """Options that change results (not force/progress/device)."""
    values = asdict(opts)
    for key in ("force", "progress", "device", "cache"):
        values.pop(key)
    return values


def _jsonable(obj: Any) -> Any:
    """JSON-safe copy: int keys become strings, numpy scalars plain numbers."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj
