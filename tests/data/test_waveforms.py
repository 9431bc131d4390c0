"""Waveform mixup, dataset items and collation on real decoded WAV files (fast, no training)."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest
import torch

from uavm.data.labels import LabelSet
from uavm.data.waveforms import WaveformClips, collate_waveforms, mix_waveforms, read_clips

SR = 16000


def write_wav(path: Path, x: np.ndarray) -> None:
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(SR)
        handle.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())


def reference_mix(x: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """The reference's recipe written out: centre both, pad / cut y to x, mix, centre the mix."""
    x, y = x - x.mean(), y - y.mean()
    y = np.concatenate([y, np.zeros(max(0, len(x) - len(y)))])[: len(x)]
    mixed = lam * x + (1 - lam) * y
    return mixed - mixed.mean()


@pytest.mark.parametrize("other_len", [300, 1000, 2500])
def test_mix_pads_or_cuts_the_partner_and_recentres(other_len):
    rng = np.random.default_rng(other_len)
    x, y = rng.standard_normal(1000) + 0.3, rng.standard_normal(other_len) - 0.2
    got = mix_waveforms(torch.from_numpy(x - x.mean()), torch.from_numpy(y - y.mean()), 0.7)
    assert got.shape == (1000,)
    np.testing.assert_allclose(got.numpy(), reference_mix(x, y, 0.7), atol=1e-12)
    assert abs(float(got.mean())) < 1e-12


@pytest.fixture
def clips(tmp_path):
    rng = np.random.default_rng(0)
    lengths = {"a.wav": 8000, "b.wav": 3000, "c.wav": 12000}
    for name, n in lengths.items():
        write_wav(tmp_path / name, 0.3 * rng.standard_normal(n) + 0.1)
    (tmp_path / "broken.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    entries = [
        {"wav": "a.wav", "labels": "x"},
        {"wav": "b.wav", "labels": "y"},
        {"wav": "c.wav", "labels": "x,z"},
        {"wav": "broken.wav", "labels": "y"},
    ]
    (tmp_path / "data.json").write_text(json.dumps({"data": entries}))
    labels = LabelSet(("x", "y", "z"), ("ex", "why", "zed"), "test")
    return read_clips(tmp_path / "data.json", labels), tmp_path


def decoded(path: Path) -> np.ndarray:
    with wave.open(str(path)) as handle:
        return np.frombuffer(handle.readframes(handle.getnframes()), "<i2").astype(np.float64) / 32768


def test_items_mix_waveforms_and_targets(clips):
    clip_list, root = clips
    dataset = WaveformClips(clip_list, num_classes=3, target_frames=50, sample_rate=SR, label_smoothing=0.0)
    limit = dataset.max_samples
    dataset.plan = [(0, 1, 0.75), (2, -1, 1.0), (3, -1, 1.0), (0, 3, 0.5)]
    mixed = dataset[0]
    expected = reference_mix(decoded(root / "a.wav"), decoded(root / "b.wav"), 0.75)[:limit]
    np.testing.assert_allclose(mixed["waveform"].numpy(), expected, atol=1e-4)
    torch.testing.assert_close(mixed["target"], torch.tensor([0.75, 0.25, 0.0]))
    alone = dataset[1]
    assert len(alone["waveform"]) == limit < 12000
    torch.testing.assert_close(alone["target"], torch.tensor([1.0, 0.0, 1.0]))
    broken = dataset[2]
    assert broken["waveform"] is None and "broken.wav" in broken["problem"][0]
    unmixed = dataset[3]  # a partner that fails to decode leaves the clip unmixed, with the problem noted
    assert unmixed["problem"] is not None and "broken.wav" in unmixed["problem"][0]
    torch.testing.assert_close(unmixed["target"], torch.tensor([1.0, 0.0, 0.0]))


def test_collation_zero_pads_and_keeps_positions(clips):
    clip_list, _ = clips
    dataset = WaveformClips(clip_list, num_classes=3, target_frames=1000, sample_rate=SR)
    dataset.plan = [(1, -1, 1.0), (3, -1, 1.0), (0, -1, 1.0)]
    items = [dataset[k] for k in range(3)]
    batch = collate_waveforms(items)
    assert batch["waveforms"].shape == (2, 8000)
    assert batch["lengths"].tolist() == [3000, 8000] and batch["kept"].tolist() == [0, 2]
    torch.testing.assert_close(batch["waveforms"][0, :3000], items[0]["waveform"])
    assert torch.count_nonzero(batch["waveforms"][0, 3000:]) == 0
    torch.testing.assert_close(batch["waveforms"][1], items[2]["waveform"])
    torch.testing.assert_close(batch["targets"], torch.stack([items[0]["target"], items[2]["target"]]))
    assert len(batch["problems"]) == 1
    nothing = collate_waveforms([items[1]])
    assert nothing["waveforms"] is None and len(nothing["problems"]) == 1
