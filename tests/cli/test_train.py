"""``uavm train`` / ``uavm eval`` through the real command line."""

import json

import pytest
import yaml
from click.testing import CliRunner

from helpers.tiny_models import TRAIN_OVERRIDES
from uavm.cli import cli, main
from uavm.data.synthetic import write_synthetic

TINY = [*TRAIN_OVERRIDES, "epochs=2"]


@pytest.fixture
def data(tmp_path):
    return write_synthetic(tmp_path / "syn", {"train": 128, "test": 48}, num_classes=8, dim=16, seq_len=8)


@pytest.mark.slow
def test_train_then_eval(data, tmp_path, one_thread):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "labels": str(data["labels"]),
                "model": {"arch": "unified"},
                "val_fraction": 0.25,
                "test": str(data["test"]),
            }
        )
    )
    out = tmp_path / "run"
    args = ["train", "--recipe", str(recipe), "--out", str(out), f"train={data['train']}", *TINY]
    run = CliRunner().invoke(cli, args)
    assert run.exit_code == 0, run.output + repr(run.exception)
    assert "best epoch" in run.output and (out / "results.csv").exists()
    assert yaml.safe_load((out / "config.yaml").read_text())["model"]["embed_dim"] == 32

    resumed = CliRunner().invoke(cli, [*args, "--resume", "epochs=3"])
    assert resumed.exit_code == 0, resumed.output + repr(resumed.exception)
    assert (out / "results.csv").read_text().count("\n") == 4

    run = CliRunner().invoke(
        cli,
        [
            "eval",
            str(out / "best_model.safetensors"),
            "--data",
            str(data["test"]),
            "--labels",
            str(data["labels"]),
            "--num-workers",
            "0",
            "--json",
            str(tmp_path / "m.json"),
        ],
    )
    assert run.exit_code == 0, run.output + repr(run.exception)
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["clips"] == 48 and 0 <= metrics["av"]["acc"] <= 1
    best = json.loads((out / "best.json").read_text())
    assert metrics["av"]["acc"] == pytest.approx(best["test"]["av"]["acc"])


def test_user_errors_exit_1_with_one_line(data, tmp_path, capsys):
    for args, message in [
        (["train", f"train={data['train']}", "bogus=1"], "unknown setting(s): bogus"),
        (["train", "--recipe", str(tmp_path / "none.yaml")], "cannot read recipe"),
        (["eval", str(tmp_path / "none.safetensors"), "--data", str(data["test"])], "none.safetensors"),
    ]:
        with pytest.raises(SystemExit) as info:
            main(args)
        assert info.value.code == 1
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
