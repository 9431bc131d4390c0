"""Streamed, time-pooled layer representations equal the model's own layer outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from uavm.analysis.representations import (
    ArrayBatches,
    compute_representations,
    load_representations,
    representation_layers,
    shared_layer_span,
)
from uavm.models import create_model

TINY = dict(embed_dim=32, num_heads=2, depth_i=2, depth_s=1, num_classes=5, seq_len=6, a_input_dim=8, v_input_dim=12)


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    audio = torch.randn(23, 6, 8, generator=g)
    visual = torch.randn(23, 6, 12, generator=g).half()  # stored features are float16
    labels = torch.eye(5)[torch.randint(0, 5, (23,), generator=g)]
    return audio, visual, labels


def _model(arch: str):
    torch.manual_seed(0)
    return create_model(arch, **TINY).eval()


@pytest.mark.parametrize("arch", ["unified", "independent"])
def test_pooled_outputs_equal_layer_output_time_mean(arch, data):
    model = _model(arch)
    audio, visual, labels = data
    reps = compute_representations(model, ArrayBatches(audio, visual, labels, batch_size=5), progress=False)
    assert reps.layers == list(range(5)) and len(reps) == 23  # input, 3 blocks, logits
    with torch.no_grad():
        for modality, x, got in (("a", audio, reps.audio), ("v", visual.float(), reps.visual)):
            for layer in range(4):
                expected = model.layer_output(x, modality, layer).mean(dim=1)
                np.testing.assert_allclose(got[layer], expected.numpy(), rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(got[4], model(x, modality).numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(reps.labels, labels.numpy())


def test_streaming_modes_and_cache_agree(tmp_path, data):
    model = _model("unified")
    audio, visual, labels = data
    batches = ArrayBatches(audio, visual, labels, batch_size=4)
    in_memory = compute_representations(model, batches, progress=False)
    preallocated = compute_representations(model, batches, n_clips=23, layers=[1, 4], progress=False)
    cached = compute_representations(model, batches, n_clips=23, cache_dir=tmp_path, cache_key="k1", progress=False)
    for layer in (1, 4):
        np.testing.assert_array_equal(in_memory.audio[layer], preallocated.audio[layer])
        np.testing.assert_array_equal(in_memory.visual[layer], cached.visual[layer])
    assert isinstance(cached.audio[0], np.memmap)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temp files left

    class Exploding:
        def __iter__(self):
            raise AssertionError("a finished cache must be reused, not recomputed")

    reused = compute_representations(model, Exploding(), cache_dir=tmp_path, cache_key="k1", layers=[2], progress=False)
    np.testing.assert_array_equal(reused.audio[2], in_memory.audio[2])
    assert load_representations(tmp_path, "other-key") is None
    recomputed = compute_representations(model, batches, cache_dir=tmp_path, cache_key="k2", layers=[3], progress=False)
    np.testing.assert_array_equal(recomputed.visual[3], in_memory.visual[3])
    assert load_representations(tmp_path, "k1") is None


def test_wrong_clip_count_is_an_error(data):
    audio, visual, labels = data
    with pytest.raises(ValueError, match="announced"):
        compute_representations(_model("unified"), ArrayBatches(audio, visual), n_clips=30, progress=False)


def test_cross_attention_has_modality_layers_only(data):
    model = _model("cross_attention")
    audio, visual, _ = data
    assert representation_layers(model) == [0, 1, 2]
    reps = compute_representations(model, ArrayBatches(audio, visual, None, batch_size=8), progress=False)
    assert reps.labels is None and reps.audio[2].shape == (23, 32)
    with torch.no_grad():
        expected = model.layer_output(visual.float(), "v", 2).mean(dim=1).numpy()
    np.testing.assert_allclose(reps.visual[2], expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="no per-modality"):
        compute_representations(model, ArrayBatches(audio, visual), layers=[3], progress=False)


def test_shared_span_only_for_unified_with_shared_layers():
    assert shared_layer_span(_model("unified")) == (3, 3)
    assert shared_layer_span(_model("independent")) is None
