"""``uavm analyze``: real files in (checkpoint, datafile / feature store), numbers and figures out."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

from uavm.cli import main
from uavm.models import create_model, save_model

TINY = dict(embed_dim=32, num_heads=2, depth_i=1, depth_s=1, num_classes=3, seq_len=4, a_input_dim=6, v_input_dim=6)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("analyze")
    torch.manual_seed(0)
    checkpoint = save_model(create_model("unified", **TINY), root / "model.safetensors")
    (root / "labels.csv").write_text("index,mid,display_name\n0,/m/a,alpha\n1,/m/b,beta\n2,/m/c,gamma\n")
    rng = np.random.default_rng(0)
    entries = []
    for i in range(24):
        np.save(root / f"clip{i}_a.npy", rng.normal(size=(4, 6)).astype(np.float32))
        np.save(root / f"clip{i}_v.npy", rng.normal(size=(3, 6)).astype(np.float16))  # short: padded
        entries.append(
            {
                "labels": f"/m/{'abc'[i % 3]}",
                "afeat": str(root / f"clip{i}_a.npy"),
                "vfeat": str(root / f"clip{i}_v.npy"),
            }
        )
    (root / "data.json").write_text(json.dumps({"data": entries}))
    return root, checkpoint


@pytest.fixture(autouse=True)
def one_torch_thread(one_thread):
    """Every test here runs on one torch thread (see the root conftest)."""


def _args(root, checkpoint, command, out, *extra):
    return [
        "analyze",
        command,
        str(checkpoint),
        "--data",
        str(root / "data.json"),
        "--labels",
        str(root / "labels.csv"),
        "--out",
        str(out),
        "--quiet",
        *extra,
    ]


@pytest.mark.slow
def test_all_on_a_datafile(files, tmp_path, capsys):
    root, checkpoint = files
    main(_args(root, checkpoint, "all", tmp_path, "--tsne-clips", "16", "--per-class", "4"))
    printed = capsys.readouterr().out
    assert "probe: done" in printed and "retrieval: done" in printed and "attention: done" in printed
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["n_clips"] == 24 and summary["results"]["retrieval"]["n_clips"] == 12
    for stem in ("probe", "tsne", "retrieval", "attention_received"):
        assert (tmp_path / f"{stem}.png").exists() and (tmp_path / f"{stem}.pdf").exists()
    # a rerun finds everything done and says so without recomputing
    main(_args(root, checkpoint, "all", tmp_path, "--tsne-clips", "16", "--per-class", "4"))
    assert "probe: done" in capsys.readouterr().out


def test_single_analysis_on_a_feature_store(files, tmp_path, capsys):
    from uavm.store import FeatureStoreWriter

    root, checkpoint = files
    rng = np.random.default_rng(1)
    with FeatureStoreWriter(tmp_path / "store", seq_len=4, dim=6, shard_size=8) as writer:
        for i in range(20):
            writer.add(f"c{i}", "synthetic", [f"/m/{'abc'[i % 3]}"], rng.normal(size=(4, 6)), rng.normal(size=(4, 6)))
    out = tmp_path / "out"
    main(
        [
            "analyze",
            "probe",
            str(checkpoint),
            "--data",
            str(tmp_path / "store"),
            "--labels",
            str(root / "labels.csv"),
            "--out",
            str(out),
            "--quiet",
            "--split",
            "halves",
        ]
    )
    assert "probe: done" in capsys.readouterr().out
    assert (out / "probe.csv").read_text().startswith("layer,train_acc,test_acc")
    assert not (out / "retrieval.csv").exists()


def test_bad_checkpoint_is_a_one_line_error(files, tmp_path, capsys):
    root, _ = files
    bogus = tmp_path / "bogus.pth"
    bogus.write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit) as exit_info:
        main(_args(root, bogus, "probe", tmp_path / "out"))
    assert exit_info.value.code == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("error:") and "bogus.pth" in error and len(error.splitlines()) == 1


def _run_dir(path, arch, depth_s, accuracies):
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(yaml.safe_dump({"model": {"arch": arch, "depth_s": depth_s}, "a_tr_prob": 0.5}))
    header = "acc_a,mAP_a,mAUC_a,acc_v,mAP_v,mAUC_v,acc_av,mAP_av,mAUC_av,lr\n"
    a, v, av = accuracies
    (path / "results.csv").write_text(header + f"{a},0,0,{v},0,0,{av},0,0,1e-4\n")
    return path


def test_sweep_from_run_folders(tmp_path, capsys):
    runs = [
        _run_dir(tmp_path / "r1", "unified", 1, (0.5, 0.4, 0.6)),
        _run_dir(tmp_path / "r2", "unified", 1, (0.6, 0.5, 0.7)),
        _run_dir(tmp_path / "r3", "unified", 3, (0.7, 0.6, 0.8)),
    ]
    out = tmp_path / "fig"
    main(["analyze", "sweep", *map(str, runs), "--x", "model.depth_s", "--out", str(out)])
    assert "2 points from 3 runs" in capsys.readouterr().out
    rows = (out / "sweep.csv").read_text().splitlines()
    assert rows[1].startswith("unified,1.0,2,0.55") and (out / "figure2.png").exists()
    with pytest.raises(SystemExit) as exit_info:
        main(["analyze", "sweep", *map(str, runs), "--out", str(out)])
    assert exit_info.value.code == 1 and "--x" in capsys.readouterr().err
