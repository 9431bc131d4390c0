import csv
import json

import numpy as np
import pytest
import torch

import uavm
from uavm.data.dataset import TrainBatches
from uavm.errors import ConfigError
from uavm.train.trainer import TrainingDiverged, train, training_step

from .conftest import TINY_MODEL, tiny_config

pytestmark = pytest.mark.usefixtures("one_thread")


def _table(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["unified", "independent", "cross_attention"])
def test_fusion_beats_each_modality(synthetic_data, tmp_path, arch):
    result = train(tiny_config(synthetic_data, tmp_path / arch, arch))
    rows = _table(result.results_csv)
    assert list(rows[0]) == [
        "acc_a",
        "mAP_a",
        "mAUC_a",
        "acc_v",
        "mAP_v",
        "mAUC_v",
        "acc_av",
        "mAP_av",
        "mAUC_av",
        "lr",
    ]
    assert len(rows) == 4 and [float(r["lr"]) for r in rows] == pytest.approx([1e-3, 1e-3, 1e-3, 5e-4])
    last = {k: float(v) for k, v in rows[-1].items()}
    # audio alone can tell at most 2 of the 8 classes apart from each other, visual 4; together all 8
    assert last["acc_av"] > max(last["acc_a"], last["acc_v"]) + 0.15
    assert last["acc_av"] > 0.8 and last["mAP_av"] > max(last["mAP_a"], last["mAP_v"])
    if arch != "cross_attention":
        assert 0.25 < last["acc_a"] <= 0.62 and 0.15 < last["acc_v"] <= 0.4
    # the best model is a uavm checkpoint that gives the reported test accuracy back
    best = json.loads((tmp_path / arch / "best.json").read_text())
    assert best["selected_on"] == "val" and best["epoch"] == result.best_epoch
    model = uavm.load_model(result.best_model)
    assert model.config.arch == arch and model.config.embed_dim == 32
    from uavm.data.dataset import open_dataset
    from uavm.data.labels import load_labels
    from uavm.train.evaluate import evaluate

    again = evaluate(model, open_dataset(synthetic_data["test"], load_labels(synthetic_data["labels"]), 8))
    assert again["av"]["acc"] == pytest.approx(best["test"]["av"]["acc"])
    for name in (
        "results.json",
        "results_val.csv",
        "checkpoint.pt",
        "last_model.safetensors",
        "train.log",
        "config.yaml",
        "timing.json",
        "results.png",
    ):
        assert (tmp_path / arch / name).exists(), name


@pytest.mark.slow
def test_resume_gives_the_same_results_table(synthetic_data, tmp_path):
    kw = {"mixup": 0.5, "label_smoothing": 0.1, "noise": True, "balanced": True, "test": None, "batch_size": 64}
    full = train(tiny_config(synthetic_data, tmp_path / "full", epochs=3, **kw))
    train(tiny_config(synthetic_data, tmp_path / "cut", epochs=1, **kw))
    resumed = train(tiny_config(synthetic_data, tmp_path / "cut", epochs=3, **kw), resume=True)
    assert (tmp_path / "full" / "results.csv").read_bytes() == (tmp_path / "cut" / "results.csv").read_bytes()
    assert json.loads((tmp_path / "full" / "results.json").read_text()) == json.loads(
        (tmp_path / "cut" / "results.json").read_text()
    )
    a, b = uavm.load_model(full.last_model), uavm.load_model(resumed.last_model)
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(x, y), name


@pytest.mark.slow
def test_crash_mid_epoch_then_resume(synthetic_data, tmp_path, monkeypatch):
    full = train(tiny_config(synthetic_data, tmp_path / "full", epochs=2))
    original = TrainBatches.__getitem__
    calls = {"n": 0}

    def failing(self, step):
        calls["n"] += 1
        if calls["n"] == 8 + 3:  # 8 steps per epoch: fails in epoch 2
            raise KeyboardInterrupt
        return original(self, step)

    monkeypatch.setattr(TrainBatches, "__getitem__", failing)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(synthetic_data, tmp_path / "cut", epochs=2))
    assert len(_table(tmp_path / "cut" / "results.csv")) == 1
    monkeypatch.setattr(TrainBatches, "__getitem__", original)
    with pytest.raises(ConfigError, match="already holds a training run"):
        train(tiny_config(synthetic_data, tmp_path / "cut", epochs=2))
    with pytest.raises(ConfigError, match="settings differ.*lr"):
        train(tiny_config(synthetic_data, tmp_path / "cut", epochs=2, lr=0.5), resume=True)
    train(tiny_config(synthetic_data, tmp_path / "cut", epochs=2), resume=True)
    assert (tmp_path / "cut" / "results.csv").read_text() == full.results_csv.read_text()


def test_nan_loss_stops_with_a_clear_message(synthetic_data, tmp_path):
    from uavm.data.datafile import read_datafile

    entry = read_datafile(synthetic_data["train"])[0]
    good = np.load(entry.afeat)
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    poisoned = good.copy()
    poisoned[0, 0] = np.nan
    try:
        np.save(entry.afeat, poisoned)
        cfg = tiny_config(synthetic_data, tmp_path / "run", epochs=1, a_tr_prob=1.0, mixup=1.0, balanced=False)
        with pytest.raises(TrainingDiverged, match="training loss became nan in epoch 1 by step"):
            train(cfg)
    finally:
        np.save(entry.afeat, good)


def _two_branch_step(set_to_none):
    torch.manual_seed(0)
    model = uavm.create_model("unified", num_classes=4, a_input_dim=6, v_input_dim=6, **TINY_MODEL)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, betas=(0.95, 0.999), weight_decay=5e-7)
    x, t = torch.randn(3, 8, 6), torch.softmax(torch.randn(3, 4), dim=1)
    training_step(model, opt, {"modality": "v", "v": x, "targets": t}, set_to_none=set_to_none)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    training_step(model, opt, {"modality": "a", "a": x, "targets": t}, set_to_none=set_to_none)
    return {k: not torch.equal(before[k], v) for k, v in model.state_dict().items()}


def test_zero_grad_reproduces_torch_1_11_by_default():
    moved = _two_branch_step(set_to_none=False)
    assert moved["v_trans.blocks.0.attn.qkv.weight"] and moved["a_trans.blocks.0.attn.qkv.weight"]
    moved = _two_branch_step(set_to_none=True)
    assert not moved["v_trans.blocks.0.attn.qkv.weight"] and moved["a_trans.blocks.0.attn.qkv.weight"]
    assert moved["s_trans.blocks.0.attn.qkv.weight"]


def test_selection_on_test_is_labelled(synthetic_data, tmp_path):
    cfg = tiny_config(synthetic_data, tmp_path / "t", epochs=1, val=None, select_on="test", model={"embed_dim": 16})
    result = train(cfg)
    best = json.loads((tmp_path / "t" / "best.json").read_text())
    assert result.selected_on == "test" and best["selected_on"] == "test" and "optimistic" in best["note"]
    assert not (tmp_path / "t" / "results_val.csv").exists()


def test_config_must_say_how_to_select(synthetic_data, tmp_path):
    with pytest.raises(ConfigError, match="no validation split"):
        tiny_config(synthetic_data, tmp_path, val=None)
    with pytest.raises(ConfigError, match="does not match the data"):
        train(tiny_config(synthetic_data, tmp_path / "x", model={"a_input_dim": 99}))


def test_off_a_terminal_the_trainer_prints_a_line_per_epoch_not_per_step(synthetic_data, tmp_path, capfd):
    train(
        tiny_config(synthetic_data, tmp_path / "log", epochs=2, batch_size=16, progress=True, model={"embed_dim": 16})
    )
    err = capfd.readouterr().err.splitlines()
    assert len(err) == 3, err  # the model line, then one line per epoch (16 steps each)
    assert err[1].startswith("epoch 1;") and err[2].startswith("epoch 2;") and "fused" in err[2]
