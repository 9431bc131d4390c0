"""Training, evaluation and analysis on unusual feature stores and run folders, through the real command line:
one line naming the store / clip / folder, never a traceback or a silent wrong result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import uavm
from helpers.bad_media import run_cli
from helpers.tiny_models import TRAIN_OVERRIDES
from uavm.data.labels import labels_to_info, read_label_csv
from uavm.data.synthetic import synthetic_clips, write_label_csv
from uavm.store import FeatureStoreWriter
from uavm.store.writer import acquire_lock, release_lock

pytestmark = pytest.mark.usefixtures("one_thread")

CLASSES, DIM, STEPS = 8, 16, 8


def write_store(path: Path, n: int, *, visual: bool = True, poison: int | None = None) -> Path:
    """``n`` synthetic clips (mids ``syn_<c>``); clip ``poison`` gets a NaN in its audio features."""
    classes, audio, video = synthetic_clips(max(n, 1), num_classes=CLASSES, dim=DIM, seq_len=STEPS, noise=1.5)
    with FeatureStoreWriter(path, seq_len=STEPS, dim=DIM, shard_size=64) as writer:
        for i in range(n):
            a = audio[i].copy()
            if i == poison:
                a[2, 3] = np.nan
            writer.add(f"c{i:03d}", "gen", [f"syn_{classes[i]}"], a, video[i].astype(np.float32) if visual else None)
    return path


@pytest.fixture
def labels(tmp_path) -> Path:
    return write_label_csv(tmp_path / "labels.csv", CLASSES)


@pytest.fixture
def model_file(tmp_path, labels) -> Path:
    """An untrained tiny unified model over the stores' features; its file records the label CSV's classes."""
    model = uavm.create_model(
        "unified", embed_dim=32, num_heads=2, depth_i=1, depth_s=1, num_classes=CLASSES, seq_len=STEPS,
        a_input_dim=DIM, v_input_dim=DIM,
    )  # fmt: skip
    return uavm.save_model(model, tmp_path / "model.safetensors", info=labels_to_info(read_label_csv(labels)))


def train_args(store: Path, labels: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--out", str(out), f"train={store}", f"labels={labels}", *TRAIN_OVERRIDES, "epochs=1", *extra]


def one_error_line(err: str, *parts: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for part in parts:
        assert part in lines[0], (part, lines[0])


def test_a_store_without_clips_is_named_by_train_eval_and_analyze(tmp_path, labels, model_file, capsys):
    store = write_store(tmp_path / "empty", 0)
    for args in (
        train_args(store, labels, tmp_path / "run"),
        ["eval", model_file, "--data", store, "--num-workers", "0"],
        ["analyze", "probe", model_file, "--data", store, "--out", tmp_path / "an"],
    ):
        code, _, err = run_cli(args, capsys)
        assert code == 1
        one_error_line(err, f"{store}: the feature store holds no clips")


def test_a_clip_with_nan_features_is_named_by_train_eval_and_analyze(tmp_path, labels, model_file, capsys):
    store = write_store(tmp_path / "nan", 64, poison=5)
    named = (f"{store}, clip c005: its audio features hold NaN or infinite values",)
    # unbalanced, audio steps only: the epoch reads every clip, the poisoned one too
    code, _, err = run_cli(train_args(store, labels, tmp_path / "run", "a_tr_prob=1", "balanced=false"), capsys)
    assert code == 1
    one_error_line(err, *named, "the training loss became nan in epoch 1")
    assert "lower lr" not in err and "holds the last good epoch" not in err  # no epoch was finished
    for args in (
        ["eval", model_file, "--data", store],  # two loader workers: the error is not theirs
        ["analyze", "probe", model_file, "--data", store, "--out", tmp_path / "an"],
    ):
        code, _, err = run_cli(args, capsys)
        assert code == 1
        one_error_line(err, *named)


def test_a_modality_no_training_clip_has_is_refused_unless_the_run_leaves_it_out(tmp_path, labels, capsys):
    store = write_store(tmp_path / "audio_only", 64, visual=False)
    for extra in ([], ["model.arch=cross_attention"]):
        code, _, err = run_cli(train_args(store, labels, tmp_path / "run", *extra), capsys)
        assert code == 1
        one_error_line(err, f"{store}: no training clip has visual features", "a_tr_prob=1")

    # an audio-only model: --resume into a new folder says it starts afresh; no split: results.json is named
    out = tmp_path / "audio_model"
    code, out_text, err = run_cli([*train_args(store, labels, out, "a_tr_prob=1"), "--resume"], capsys)
    assert code == 0, err
    assert "holds no checkpoint to resume from" in (out / "train.log").read_text()
    assert f"results: {out / 'results.json'}" in out_text and (out / "results.json").exists()

    code, out_text, err = run_cli(
        ["eval", out / "best_model.safetensors", "--data", store, "--num-workers", "0"], capsys
    )
    assert code == 0, err  # the model file records the label CSV's classes: no --labels needed
    assert "note: " in err and "holds no visual features" in err and "(64 clips)" in out_text


def test_a_second_run_into_a_busy_folder_is_refused(tmp_path, labels, capsys):
    store = write_store(tmp_path / "store", 64)
    out = tmp_path / "run"
    lock = acquire_lock(out, blocking=False)  # what a running `uavm train` into this folder holds
    try:
        code, _, err = run_cli(train_args(store, labels, out), capsys)
    finally:
        release_lock(lock)
    assert code == 1
    one_error_line(err, f"{out}: another training run is writing this folder")
    assert not (out / "config.yaml").exists() and not (out / "train.log").exists()


def test_a_label_csv_saved_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text('index,mid,display_name\r\n0,/m/a,"alpha, with a comma"\r\n1,/m/b,beta\r\n', encoding="utf-8-sig")
    labels = read_label_csv(path)
    assert labels.mids == ("/m/a", "/m/b") and labels.names[0] == "alpha, with a comma"
