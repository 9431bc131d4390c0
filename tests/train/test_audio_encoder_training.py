"""A real, small audio-encoder training run on generated clips: the loss falls, resume repeats the run."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest
import torch

from uavm.cli import main
from uavm.data.spec_augment import spec_augment
from uavm.errors import ConfigError
from uavm.features.audio_encoder import AudioEncoder
from uavm.train.audio_encoder import (
    AudioEncoderConfig,
    config_from_recipe,
    train_audio_encoder,
)

SR = 16000
RECIPES = Path(__file__).resolve().parents[2] / "recipes"
CLASSES = ("/m/low", "/m/high", "/m/click")


def write_wav(path: Path, x: np.ndarray, rate: int = SR) -> None:
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())


def clip_of_class(label: int, rng: np.random.Generator) -> np.ndarray:
    """1.4 s: a low tone, a high tone or a click train, in noise, with random pitch and level."""
    t = np.arange(int(1.4 * SR)) / SR
    level = rng.uniform(0.2, 0.5)
    if label == 0:
        x = np.sin(2 * np.pi * rng.uniform(200, 400) * t)
    elif label == 1:
        x = np.sin(2 * np.pi * rng.uniform(2500, 4000) * t)
    else:
        x = ((t * rng.uniform(8, 14)) % 1 < 0.01).astype(float) * 2 - 0.02
    return level * x + 0.03 * rng.standard_normal(len(t))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    """18 training and 6 validation clips of 3 classes, a label CSV, and one corrupt validation file."""
    root = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(0)
    (root / "labels.csv").write_text(
        "index,mid,display_name\n" + "".join(f"{i},{m},{m[3:]}\n" for i, m in enumerate(CLASSES))
    )
    files = {}
    for split, count in (("train", 18), ("val", 6)):
        entries = []
        for i in range(count):
            label = i % 3
            path = root / f"{split}_{i:02d}.wav"
            write_wav(path, clip_of_class(label, rng))
            entries.append({"wav": path.name, "labels": CLASSES[label]})
        if split == "val":
            (root / "broken.wav").write_bytes(b"RIFF....WAVEfmt garbage")
            entries.append({"wav": "broken.wav", "labels": CLASSES[0]})
        files[split] = root / f"{split}.json"
        files[split].write_text(json.dumps({"data": entries}))
    files["labels"] = root / "labels.csv"
    return files


def tiny_config(data: dict[str, Path], out: Path, **changes) -> AudioEncoderConfig:
    values = dict(
        train=str(data["train"]),
        val=str(data["val"]),
        labels=str(data["labels"]),
        out_dir=str(out),
        size="tiny",
        init="random",
        target_frames=64,
        batch_size=6,
        eval_batch_size=7,
        epochs=3,
        lr=5e-4,
        lr_start=2,
        warmup_samples=12,
        freq_mask=24,
        time_mask=16,
        num_workers=0,
        progress=False,
    )
    values.update(changes)
    return AudioEncoderConfig(**values)


@pytest.mark.slow
def test_training_loss_falls_and_resume_continues_the_same_run(data, tmp_path):
    full = train_audio_encoder(tiny_config(data, tmp_path / "full"))
    losses = [row["train_loss"] for row in full.history]
    assert len(losses) == 3 and losses[-1] < 0.8 * losses[0]
    assert full.history[-1]["lr"] == pytest.approx(5e-4 * 0.5)  # multistep: halved after epoch 2
    assert {"acc", "mAP", "mAUC", "d_prime", "loss"} <= set(full.history[0]["val"])

    out = tmp_path / "full"
    for name in ("checkpoint.pt", "best_model.safetensors", "last_model.safetensors", "results.csv", "results.json"):
        assert (out / name).is_file(), name
    assert (out / "results.csv").read_text().splitlines()[0].startswith("epoch,train_loss,lr,val_acc")
    skipped = json.loads((out / "skipped_clips.json").read_text())
    assert [Path(s["path"]).name for s in skipped] == ["broken.wav"] and "broken.wav" in skipped[0]["problem"]
    encoder = AudioEncoder.from_checkpoint(out / "best_model.safetensors")
    assert encoder.size == "tiny" and encoder.num_classes == 3 and encoder.dataset == "vggsound"

    # stopped after epoch 1, then resumed: its epoch 2 is the uninterrupted run's epoch 2
    part = train_audio_encoder(tiny_config(data, tmp_path / "part", epochs=1))
    assert part.history[0]["train_loss"] == pytest.approx(losses[0], rel=1e-5)
    resumed = train_audio_encoder(tiny_config(data, tmp_path / "part", epochs=2), resume=True)
    assert [r["epoch"] for r in resumed.history] == [1, 2]
    assert resumed.history[1]["train_loss"] == pytest.approx(losses[1], rel=1e-4)
    assert resumed.history[1]["val"]["loss"] == pytest.approx(full.history[1]["val"]["loss"], rel=1e-4)


@pytest.mark.slow
def test_weight_averaging_bce_and_the_cli(data, tmp_path, capsys):
    out = tmp_path / "cli"
    main(
        [
            "train-audio-encoder",
            "--recipe",
            str(RECIPES / "audioset" / "audio_encoder.yaml"),
            "-o",
            str(out),
            f"train={data['train']}",
            f"val={data['val']}",
            f"labels={data['labels']}",
            "size=tiny",
            "init=random",
            "target_frames=64",
            "batch_size=12",
            "eval_batch_size=7",
            "epochs=2",
            "lr_start=1",
            "wa_start=1",
            "wa_end=2",
            "keep_epoch_weights=true",
            "warmup_samples=12",
            "num_workers=0",
            "progress=false",
            "time_mask=16",
        ]
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["averaged"] and Path(summary["averaged"]).is_file()
    results = json.loads((out / "results.json").read_text())
    assert results["main_metric"] == "mAP" and results["averaged"]["epochs"] == [1, 2]
    averaged = AudioEncoder.from_checkpoint(out / "averaged.safetensors")
    assert averaged.dataset == "audioset"
    epochs = [AudioEncoder.from_checkpoint(out / f"epoch_{e}.safetensors").state_dict() for e in (1, 2)]
    assert not torch.equal(epochs[0]["features.0.0.weight"], epochs[1]["features.0.0.weight"])
    for key, value in averaged.state_dict().items():
        torch.testing.assert_close(value, (epochs[0][key] + epochs[1][key]) / 2, rtol=1e-6, atol=1e-7)


def test_spec_augment_masks_one_band_and_one_span_to_zero():
    x = torch.randn(64, 100, 128) + 5
    out = spec_augment(x, 48, 30, torch.Generator().manual_seed(0))
    zero = out == 0
    freq_width = zero.all(dim=1).sum(dim=1)  # bins masked over all frames
    time_width = zero.all(dim=2).sum(dim=1)  # frames masked over all bins
    assert freq_width.max() < 48 and time_width.max() < 30
    assert freq_width.float().mean() > 10 and time_width.float().mean() > 5
    kept = ~zero
    torch.testing.assert_close(out[kept], x[kept])
    # every masked cell lies in the clip's band or span
    assert int(zero.sum()) == int(
        sum(f * 100 + t * 128 - f * t for f, t in zip(freq_width.tolist(), time_width.tolist()))
    )


def test_recipes_and_overrides(data):
    vgg = config_from_recipe(str(RECIPES / "vggsound" / "audio_encoder.yaml"), [f"train={data['train']}"])
    assert (vgg.lr, vgg.batch_size, vgg.epochs, vgg.lr_start, vgg.loss, vgg.main_metric) == (
        1e-4,
        120,
        25,
        15,
        "ce",
        "acc",
    )
    assert vgg.stats == (-5.081, 4.4849) and (vgg.freq_mask, vgg.time_mask, vgg.target_frames) == (48, 192, 1000)
    audioset = config_from_recipe(str(RECIPES / "audioset" / "audio_encoder.yaml"), [f"train={data['train']}"])
    assert (audioset.lr, audioset.epochs, audioset.lr_start, audioset.wa_start, audioset.wa_end) == (
        5e-4,
        30,
        10,
        16,
        30,
    )
    assert audioset.loss == "bce" and audioset.main_metric == "mAP" and audioset.weight_averaging
    with pytest.raises(ConfigError, match="unknown audio-encoder setting"):
        config_from_recipe(None, ["train=x.json", "learning_rate=1"])
    with pytest.raises(ConfigError, match="batch_size must be a whole number"):
        config_from_recipe(None, ["train=x.json", "batch_size=2.5"])
    with pytest.raises(ConfigError, match="no training data"):
        config_from_recipe(str(RECIPES / "vggsound" / "audio_encoder.yaml"), [])
