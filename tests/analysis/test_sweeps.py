"""Figure 2: mean ± std over repeats of the final / best epoch of several runs' results tables."""

from __future__ import annotations

import statistics

import numpy as np
import pytest

from uavm.analysis.sweeps import (
    SweepRun,
    pick_epoch,
    plot_sweep,
    read_manifest,
    read_results_table,
    sweep_summary,
)
from uavm.errors import ConfigError, UAVMError

HEADER = "epoch,acc_a,mAP_a,mAUC_a,acc_v,mAP_v,mAUC_v,acc_av,mAP_av,mAUC_av,lr"


def _write_ours(path, finals, best_av=0.9):
    """A results table with a header, 3 epochs; epoch 2 has the best fused accuracy."""
    a, v, av = finals
    lines = [
        HEADER,
        "1,0.1,0,0,0.1,0,0,0.1,0,0,1e-4",
        f"2,0.2,0,0,0.2,0,0,{best_av},0,0,5e-5",
        f"3,{a},0,0,{v},0,0,{av},0,0,2e-5",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_reads_reference_headerless_and_our_tables(tmp_path):
    ref = tmp_path / "result.csv"
    ref.write_text("5.5e-01,5.7e-01,9.6e-01,4.4e-01,4.4e-01,9.2e-01,6.3e-01,6.3e-01,9.7e-01,5e-05\n" * 2)
    rows = read_results_table(ref)
    assert len(rows) == 2 and rows[0]["acc_av"] == pytest.approx(0.63) and rows[0]["lr"] == pytest.approx(5e-5)
    ours = read_results_table(_write_ours(tmp_path / "ours.csv", (0.5, 0.4, 0.6)))
    assert len(ours) == 3 and ours[-1]["acc_v"] == pytest.approx(0.4)
    assert pick_epoch(ours, "final")["epoch"] == 3 and pick_epoch(ours, "best")["epoch"] == 2


def test_summary_mean_std_and_skipped_runs(tmp_path):
    finals = {
        ("unified", 16): [(0.50, 0.40, 0.60), (0.52, 0.42, 0.62), (0.54, 0.41, 0.61)],
        ("unified", 64): [(0.55, 0.45, 0.65)],
        ("independent", 16): [(0.51, 0.43, 0.58), (0.49, 0.44, 0.59)],
    }
    runs = []
    for (series, x), repeats in finals.items():
        for r, values in enumerate(repeats):
            runs.append(SweepRun(series, x, _write_ours(tmp_path / f"{series}{x}r{r}.csv", values)))
    runs.append(SweepRun("unified", 64, tmp_path / "missing.csv"))
    rows, skipped = sweep_summary(runs)
    assert [(r["series"], r["x"], r["n_runs"]) for r in rows] == [
        ("unified", 16, 3),
        ("unified", 64, 1),
        ("independent", 16, 2),
    ]
    for row in rows:
        repeats = finals[(row["series"], row["x"])]
        for i, m in enumerate(("a", "v", "av")):
            column = [values[i] for values in repeats]
            assert row[f"acc_{m}_mean"] == pytest.approx(statistics.fmean(column))
            assert row[f"acc_{m}_std"] == pytest.approx(statistics.pstdev(column))
    assert len(skipped) == 1 and "missing.csv" in skipped[0]["problem"]
    best_rows, _ = sweep_summary(runs, select="best")
    assert best_rows[0]["acc_av_mean"] == pytest.approx(0.9)

    paths = plot_sweep(rows, tmp_path / "figure2", xlabel="shared embedding dim")
    assert all(p.stat().st_size > 1000 for p in paths)


def test_fusion_only_tables_give_nan_for_missing_modalities(tmp_path):
    table = tmp_path / "fusion.csv"
    table.write_text("acc_av,mAP_av\n0.6,0.5\n")
    rows, skipped = sweep_summary([SweepRun("cross-attention", 1, table)])
    assert not skipped and np.isnan(rows[0]["acc_a_mean"]) and rows[0]["acc_av_mean"] == pytest.approx(0.6)
    other = tmp_path / "other.csv"
    other.write_text("loss\n0.3\n")
    assert "no acc_a" in sweep_summary([SweepRun("s", 1, other)])[1][0]["problem"]


def test_manifest_resolves_relative_paths_and_rejects_bad_rows(tmp_path):
    _write_ours(tmp_path / "r1.csv", (0.5, 0.4, 0.6))
    manifest = tmp_path / "runs.csv"
    manifest.write_text("series,x,results\nunified,0.5,r1.csv\n")
    [run] = read_manifest(manifest)
    assert run == SweepRun("unified", 0.5, tmp_path / "r1.csv")
    manifest.write_text("series,x,results\nunified,wide,r1.csv\n")
    with pytest.raises(ConfigError, match="runs.csv:2"):
        read_manifest(manifest)
    with pytest.raises(UAVMError, match="empty"):
        (tmp_path / "empty.csv").write_text("")
        read_results_table(tmp_path / "empty.csv")
