"""The `all` job: every analysis writes its numbers and figures; reruns resume; failures are isolated."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from uavm.analysis.representations import ArrayBatches
from uavm.analysis.runner import ANALYSES, AnalysisOptions, run_analyses
from uavm.models import create_model

TINY = dict(embed_dim=32, num_heads=2, depth_i=1, depth_s=1, num_classes=4, seq_len=5, a_input_dim=6, v_input_dim=6)


@pytest.fixture()
def job():
    torch.manual_seed(0)
    model = create_model("unified", **TINY).eval()
    g = torch.Generator().manual_seed(0)
    labels = torch.eye(4)[torch.arange(40) % 4]
    batches = ArrayBatches(
        torch.randn(40, 5, 6, generator=g), torch.randn(40, 5, 6, generator=g), labels, batch_size=16
    )
    return model, batches


@pytest.mark.slow
def test_all_writes_every_output_and_resumes(job, tmp_path):
    model, batches = job
    opts = AnalysisOptions(tsne_clips=30, retrieval_per_class=5, progress=False)
    summary = run_analyses(model, batches, tmp_path, options=opts, n_clips=40, data_key="model+data")
    assert summary["failed"] == [] and summary["n_clips"] == 40
    for name in (
        "probe.csv",
        "tsne.csv",
        "retrieval.csv",
        "attention.csv",
        "attention_maps.npz",
        "retrieval_subset.json",
    ):
        assert (tmp_path / name).stat().st_size > 0, name
    for stem in ("probe", "tsne", "retrieval", "attention_maps", "attention_received", "attention_difference"):
        for ext in ("png", "pdf"):
            assert (tmp_path / f"{stem}.{ext}").stat().st_size > 1000
    with open(tmp_path / "retrieval.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["layer"]) for r in rows] == [0, 1, 2, 3] and {r["n_clips"] for r in rows} == {"20"}
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert {name: r["status"] for name, r in on_disk["results"].items()} == dict.fromkeys(ANALYSES, "done")
    assert on_disk["results"]["retrieval"]["subset"] == "5 clips per class, seed 0"

    class Exploding:
        def __iter__(self):
            raise AssertionError("finished analyses must not read the data again")

    again = run_analyses(model, Exploding(), tmp_path, options=opts, data_key="model+data")
    assert again["failed"] == []
    # a changed setting redoes only the analysis it affects, from the cached representations
    changed = AnalysisOptions(tsne_clips=30, retrieval_per_class=5, ties="optimistic", progress=False)
    redo = run_analyses(model, Exploding(), tmp_path, ["retrieval"], changed, data_key="model+data")
    assert redo["results"]["retrieval"]["ties"] == "optimistic" and redo["failed"] == []


def test_one_failing_analysis_does_not_stop_the_others(job, tmp_path):
    model, batches = job
    opts = AnalysisOptions(ties="coin-flip", tsne_clips=20, progress=False, cache=False)
    summary = run_analyses(model, batches, tmp_path, ["retrieval", "probe"], opts)
    assert summary["failed"] == ["retrieval"]
    assert "ties" in summary["results"]["retrieval"]["problem"]
    assert summary["results"]["probe"]["status"] == "done" and (tmp_path / "probe.csv").exists()
    assert not (tmp_path / "representations").exists()


def test_unknown_analysis_is_a_user_error(job, tmp_path):
    from uavm.errors import UAVMError

    with pytest.raises(UAVMError, match="unknown analysis"):
        run_analyses(job[0], job[1], tmp_path, ["probe", "umap"])


def test_no_labels_means_retrieval_over_all_clips(job, tmp_path):
    model, batches = job
    unlabeled = ArrayBatches(batches.audio, batches.visual, None, batch_size=16)
    summary = run_analyses(model, unlabeled, tmp_path, ["retrieval"], AnalysisOptions(progress=False))
    assert summary["results"]["retrieval"]["n_clips"] == 40
    assert "no labels" in summary["results"]["retrieval"]["subset"]
