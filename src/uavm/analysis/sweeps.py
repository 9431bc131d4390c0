"""Figure 2: accuracy (audio / visual / fused) against a swept setting, from several runs.

Each run contributes one row of its per-epoch results table (the final epoch, as the
reference's plots did, or the best one by the fused metric). Runs are grouped by
(series, x): a series is a model family (e.g. unified / independent / cross-attention),
x the swept value (shared-layer width, number of shared layers, ``a_tr_prob``), and
repeats with the same (series, x) give mean ± std (population std, as the reference).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, UAVMError
from ..modality import VIEWS

# column order of the reference's header-less result.csv
REFERENCE_COLUMNS = ("acc_a", "mAP_a", "mAUC_a", "acc_v", "mAP_v", "mAUC_v", "acc_av", "mAP_av", "mAUC_av", "lr")
MODALITY_NAMES = {"a": "Audio", "v": "Visual", "av": "Audio-visual"}
SELECTS = ("final", "best")
RESULTS_CSV = "results.csv"
RUN_CONFIG = "config.yaml"


@dataclass(frozen=True)
class SweepRun:
    """One training run: its series name, swept value and results table."""

    series: str
    x: float
    results: Path


def read_results_table(path: str | Path) -> list[dict[str, float]]:
    """Per-epoch rows of a results CSV: ours (with a header) or the reference's (header-less).

    ``path`` may be a run folder: its ``results.csv`` is read.
    """
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_CSV
    try:
        lines = [line for line in path.read_text().splitlines() if line.strip()]
    except OSError as exc:
        raise UAVMError(f"{path}: cannot read results table ({exc.strerror or exc})") from None
    if not lines:
        raise UAVMError(f"{path}: results table is empty")
    first = next(csv.reader(lines[:1]))
    has_header = not _is_number(first[0])
    columns = first if has_header else list(REFERENCE_COLUMNS)
    rows = []
    for values in csv.reader(lines[1:] if has_header else lines):
        try:
            rows.append({c: float(v) for c, v in zip(columns, values) if _is_number(v)})
        except ValueError:
            raise UAVMError(f"{path}: malformed results row {values}") from None
    if not rows:
        raise UAVMError(f"{path}: results table has no epochs")
    return rows


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def pick_epoch(table: Sequence[dict[str, float]], select: str = "final", metric: str = "acc") -> dict[str, float]:
    """The final epoch's row, or the best one by ``<metric>_av``."""
    if select not in SELECTS:
        raise ValueError(f"select must be one of {SELECTS}, got {select!r}")
    if select == "final":
        return table[-1]
    key = f"{metric}_av"
    return max(table, key=lambda row: row.get(key, -math.inf))


def read_manifest(path: str | Path) -> list[SweepRun]:
    """Runs listed in a CSV with columns ``series,x,results`` (paths relative to the manifest)."""
    path = Path(path)
    try:
        with open(path, newline="") as f:
            records = list(csv.DictReader(f))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read sweep manifest ({exc.strerror or exc})") from None
    runs = []
    for line, record in enumerate(records, start=2):
        try:
            results = Path(record["results"])
            runs.append(
                SweepRun(
                    record["series"], float(record["x"]), results if results.is_absolute() else path.parent / results
                )
            )
        except (KeyError, TypeError, ValueError):
            raise ConfigError(f"{path}:{line}: a sweep manifest row needs series, x (a number) and results") from None
    return runs


def runs_from_dirs(run_dirs: Iterable[str | Path], x_key: str, series_key: str | None = "model.arch") -> list[SweepRun]:
    """Runs read off training folders: x (and the series) from each run's ``config.yaml``.

    Keys are dotted paths into the config, e.g. ``model.s_embed_dim``, ``model.depth_s``,
    ``a_tr_prob``; ``series_key=None`` puts every run in one series.
    """
    import yaml

    runs = []
    for run_dir in map(Path, run_dirs):
        config_path = run_dir / RUN_CONFIG
        try:
            config = yaml.safe_load(config_path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{config_path}: cannot read the run's config ({exc})") from None
        x = _dotted(config, x_key, config_path)
        series = str(_dotted(config, series_key, config_path)) if series_key else "runs"
        try:
            runs.append(SweepRun(series, float(x), run_dir / RESULTS_CSV))
        except (TypeError, ValueError):
            raise ConfigError(f"{config_path}: {x_key} = {x!r} is not a number") from None
    return runs


def _dotted(config: dict[str, Any], key: str, where: Path) -> Any:
    value: Any = config
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            raise ConfigError(f"{where}: no setting {key!r}")
        value = value[part]
    return value


def sweep_summary(
    runs: Iterable[SweepRun], select: str = "final", metric: str = "acc"
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Mean ± std of ``<metric>_a/_v/_av`` per (series, x); runs that cannot be read are skipped.

    A column a run lacks (e.g. audio-only accuracy of the fusion model) becomes NaN.

    Returns (rows sorted by series order of appearance then x, skipped runs with the reason).
    """
    groups: dict[tuple[str, float], list[dict[str, float]]] = {}
    skipped = []
    for run in runs:
        try:
            row = pick_epoch(read_results_table(run.results), select, metric)
            if not any(f"{metric}_{m}" in row for m in VIEWS):
                raise UAVMError(f"{run.results}: results table has no {metric}_a, {metric}_v or {metric}_av column")
        except UAVMError as exc:
            skipped.append({"series": run.series, "x": str(run.x), "results": str(run.results), "problem": str(exc)})
            continue
        groups.setdefault((run.series, run.x), []).append(row)
    order = list(dict.fromkeys(series for series, _ in groups))
    rows = []
    for series, x in sorted(groups, key=lambda key: (order.index(key[0]), key[1])):
        picked = groups[(series, x)]
        out: dict[str, Any] = {"series": series, "x": x, "n_runs": len(picked)}
        for m in VIEWS:
            values = np.array([row.get(f"{metric}_{m}", math.nan) for row in picked])
            out[f"{metric}_{m}_mean"] = float(values.mean())
            out[f"{metric}_{m}_std"] = float(values.std())
        rows.append(out)
    return rows, skipped


def plot_sweep(
    rows: Sequence[dict[str, Any]], stem: str | Path, xlabel: str, metric: str = "acc", log_x: bool | None = None
) -> list[Path]:
    """Three panels (audio, visual, fused): one line per series, mean with a ±std band."""
    from .plots import new_figure, save_figure

    series_names = list(dict.fromkeys(row["series"] for row in rows))
    xs = [row["x"] for row in rows]
    if log_x is None:
        log_x = min(xs) > 0 and max(xs) / min(xs) >= 16
    fig = new_figure(10.0, 3.0)
    axes = fig.subplots(1, 3)
    for ax, m in zip(axes, VIEWS):
        for series in series_names:
            points = [row for row in rows if row["series"] == series]
            x = np.array([row["x"] for row in points])
            mean = np.array([row[f"{metric}_{m}_mean"] for row in points]) * 100
            std = np.array([row[f"{metric}_{m}_std"] for row in points]) * 100
            (line,) = ax.plot(x, mean, "o-", label=series)
            ax.fill_between(x, mean - std, mean + std, alpha=0.25, color=line.get_color())
        if log_x:
            ax.set_xscale("log", base=2)
        ticks = sorted(set(xs))
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks], fontsize=8)
        ax.set_title(MODALITY_NAMES[m])
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"{metric} (%)")
    axes[0].legend(fontsize=8)
    return save_figure(fig, stem)
