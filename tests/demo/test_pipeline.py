"""The reduced demo, end to end on CPU: what CI runs of the README's main job."""

from __future__ import annotations

import json
import re

import pytest

from uavm.cli import main


@pytest.mark.slow
def test_quick_demo_report_shows_fusion_beating_each_modality(tmp_path, capsys):
    out = tmp_path / "demo"
    main(["demo", "--quick", "--out", str(out), "--quiet"])
    printed = capsys.readouterr().out
    assert f"report: {out / 'report.html'}" in printed

    results = json.loads((out / "results.json").read_text())
    test = results["test"]
    assert set(test) == {"unified", "independent", "cross_attention"}
    unified = test["unified"]
    assert unified["acc_av"] > unified["acc_a"] and unified["acc_av"] > unified["acc_v"], test
    for arch, row in test.items():
        assert row["acc_av"] > 100 / 8, (arch, row)  # above chance for every model

    report = (out / "report.md").read_text()
    row = re.search(r"^\| unified \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|", report, re.M)
    assert row and [float(x) for x in row.groups()] == pytest.approx(
        [unified["acc_a"], unified["acc_v"], unified["acc_av"]], abs=0.051
    )
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report)
    assert any("probe" in f for f in figures) and any("retrieval" in f for f in figures)
    for figure in figures:
        assert (out / figure).is_file() and (out / figure).stat().st_size > 1000
    assert "<table>" in (out / "report.html").read_text()
