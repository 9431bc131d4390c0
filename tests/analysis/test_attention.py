"""Mean attention maps: they sum to 1 over keys and are the attention the blocks really apply."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from uavm.analysis.attention import (
    mean_abs_difference,
    plot_attention_difference,
    plot_mean_maps,
    plot_received_attention,
    received_attention,
    save_attention_maps,
    summarize_attention,
)
from uavm.analysis.representations import ArrayBatches
from uavm.models import create_model

TINY = dict(embed_dim=32, num_heads=2, depth_i=2, depth_s=2, num_classes=5, seq_len=6, a_input_dim=8, v_input_dim=8)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return create_model("unified", **TINY).eval()


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(1)
    return torch.randn(13, 6, 8, generator=g), torch.randn(13, 6, 8, generator=g) * 2 + 1


def _hooked_attention_io(model, x, modality):
    """Inputs and outputs of every attention module in the order a plain forward runs them."""
    calls = []
    hooks = [
        module.register_forward_hook(lambda mod, args, out: calls.append((mod, args[0], out)))
        for name, module in model.named_modules()
        if name.endswith(".attn")
    ]
    try:
        with torch.no_grad():
            model(x, modality)
    finally:
        for hook in hooks:
            hook.remove()
    return calls


def _apply_probabilities(attn_module, normed_input, probabilities):
    """What a block outputs if it weights its own value vectors by ``probabilities``."""
    batch, length, dim = normed_input.shape
    heads = probabilities.shape[1]
    values = attn_module.qkv(normed_input)[..., 2 * dim :]
    values = values.reshape(batch, length, heads, dim // heads).transpose(1, 2)
    return attn_module.proj((probabilities @ values).transpose(1, 2).reshape(batch, length, dim))


@pytest.mark.parametrize("modality", ["a", "v"])
def test_maps_are_what_the_blocks_multiply(model, data, modality):
    x = data[0] if modality == "a" else data[1]
    calls = _hooked_attention_io(model, x, modality)
    with torch.no_grad():
        maps = model.attention_maps(x, modality)
        reference_maps = model.attention_maps(x, modality, pre_norm=True)
        assert len(calls) == len(maps) == 4
        for (module, normed, out), probs, ref in zip(calls, maps, reference_maps):
            torch.testing.assert_close(probs.sum(dim=-1), torch.ones(probs.shape[:-1]))
            torch.testing.assert_close(_apply_probabilities(module, normed, probs), out, rtol=1e-4, atol=1e-5)
            # the reference's pre-norm maps are not what the block applies
            assert (_apply_probabilities(module, normed, ref) - out).abs().max() > 1e-3


def test_summary_is_the_streamed_mean_over_clips(model, data):
    audio, visual = data
    summary = summarize_attention(model, ArrayBatches(audio, visual, batch_size=4), progress=False)
    assert summary.n_clips == 13 and summary.layers == [1, 2, 3, 4]
    with torch.no_grad():
        a_maps, v_maps = model.attention_maps(audio, "a"), model.attention_maps(visual, "v")
    for k in range(4):
        np.testing.assert_allclose(summary.audio[k], a_maps[k].mean(dim=0).numpy(), atol=1e-6)
        np.testing.assert_allclose(summary.visual[k], v_maps[k].mean(dim=0).numpy(), atol=1e-6)
        np.testing.assert_allclose(summary.audio[k].sum(axis=-1), 1.0, atol=1e-5)
        per_clip = np.mean([(a_maps[k][i] - v_maps[k][i]).abs().mean().item() for i in range(13)])
        assert summary.mad[k] == pytest.approx(per_clip, rel=1e-5)
        assert summary.rows()[k]["mad_of_means"] == pytest.approx(
            mean_abs_difference(summary.audio[k], summary.visual[k])
        )
        assert summary.rows()[k]["mad_of_means"] <= summary.mad[k] + 1e-9  # |mean| <= mean |.|
    pre = summarize_attention(model, ArrayBatches(audio, visual, batch_size=13), pre_norm=True, progress=False)
    assert pre.pre_norm and not np.allclose(pre.audio[0], summary.audio[0], atol=1e-4)


def test_received_attention_is_column_mean():
    maps = np.array([[[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.2, 0.2, 0.6]]])  # 1 head, T = 3
    np.testing.assert_allclose(received_attention(maps), [[1.7 / 3, 0.7 / 3, 0.6 / 3]])
    assert received_attention(maps).sum() == pytest.approx(1.0)


def test_cross_attention_summary_has_joint_maps(data):
    torch.manual_seed(0)
    model = create_model("cross_attention", **TINY).eval()
    summary = summarize_attention(model, ArrayBatches(*data, batch_size=5), progress=False)
    assert len(summary.audio) == len(summary.visual) == len(summary.mad) == 2
    assert len(summary.joint) == 2 and summary.joint[0].shape == (2, 12, 12)
    np.testing.assert_allclose(summary.joint[1].sum(axis=-1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_figures_and_npz_are_written(model, data, tmp_path):
    summary = summarize_attention(model, ArrayBatches(*data, batch_size=13), progress=False)
    paths = plot_mean_maps(summary, tmp_path / "maps")
    paths += plot_received_attention(summary, tmp_path / "received")
    paths += plot_attention_difference(summary, tmp_path / "diff", shaded=(3, 4))
    for path in paths:
        assert path.stat().st_size > 1000
    assert [p.suffix for p in paths] == [".png", ".pdf"] * 3
    with np.load(save_attention_maps(summary, tmp_path / "maps.npz")) as saved:
        np.testing.assert_array_equal(saved["visual_3"], summary.visual[2])
