"""Models against the independent float64 reference in tests/helpers/reference_uavm.py:
logits, every layer output and attention maps, for all three architectures and edge sizes."""

from __future__ import annotations

import pytest
import torch

from helpers import reference_uavm as ref
from uavm.models import ModelConfig, build_model

SEQ, CLASSES, HEADS = 5, 7, 2
# (arch, embed, depth_i, depth_s, a_dim, v_dim, s_embed)
CASES = [
    ("unified", 16, 2, 2, 12, 10, 0),  # input dims != embed
    ("unified", 16, 2, 2, 16, 16, 24),  # s_embed != embed, input dims == embed
    ("unified", 16, 0, 2, 12, 10, 0),  # depth_i = 0
    ("unified", 16, 3, 0, 12, 16, 0),  # depth_s = 0
    ("independent", 16, 2, 2, 12, 10, 24),
    ("independent", 16, 0, 1, 12, 10, 0),
    ("independent", 16, 2, 0, 16, 10, 0),
    ("cross_attention", 16, 2, 2, 12, 10, 24),
    ("cross_attention", 16, 0, 2, 12, 10, 0),
    ("cross_attention", 16, 2, 0, 12, 10, 0),
]


def _model_and_state(case, seed=0):
    arch, embed, di, ds, a_dim, v_dim, s_embed = case
    sd = ref.reference_state_dict(arch, embed, HEADS, di, ds, CLASSES, SEQ, a_dim, v_dim, s_embed, seed=seed)
    sd = {k: v.double() for k, v in sd.items()}
    config = ModelConfig(
        arch=arch,
        embed_dim=embed,
        num_heads=HEADS,
        depth_i=di,
        depth_s=ds,
        num_classes=CLASSES,
        seq_len=SEQ,
        a_input_dim=a_dim,
        v_input_dim=v_dim,
        s_embed_dim=s_embed,
    )
    model = build_model(config).double().eval()
    model.load_state_dict(sd)  # strict: reference key names and shapes
    return model, sd


def _inputs(case, batch=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(batch, SEQ, case[4], generator=g, dtype=torch.float64),
        torch.randn(batch, SEQ, case[5], generator=g, dtype=torch.float64),
    )


def _upper(arch, ds, m):
    if not ds:
        return None
    return f"{m}_s_trans" if arch == "independent" else "s_trans"


ONE_MODALITY = [c for c in CASES if c[0] != "cross_attention"]


@pytest.mark.parametrize("case", ONE_MODALITY, ids=lambda c: f"{c[0]}-di{c[2]}-ds{c[3]}-se{c[6]}")
@pytest.mark.parametrize("modality", ["a", "v"])
def test_one_modality_models_match_reference(case, modality):
    model, sd = _model_and_state(case)
    x = _inputs(case)[0 if modality == "a" else 1]
    layers, maps = ref.one_modality(sd, modality, x, HEADS, _upper(case[0], case[3], modality))
    assert len(layers) == model.num_layers + 1 == case[2] + case[3] + 2
    with torch.no_grad():
        torch.testing.assert_close(model(x, modality), layers[-1], rtol=1e-9, atol=1e-9)
        for k, expected in enumerate(layers):
            torch.testing.assert_close(model.layer_output(x, modality, k), expected, rtol=1e-9, atol=1e-9)
        got_maps = model.attention_maps(x, modality)
    assert len(got_maps) == len(maps) == case[2] + case[3]
    for got, expected in zip(got_maps, maps):
        assert got.shape == (3, HEADS, SEQ, SEQ)
        torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("case", [c for c in CASES if c[0] == "cross_attention"], ids=lambda c: f"di{c[2]}-ds{c[3]}")
def test_cross_attention_matches_reference(case):
    model, sd = _model_and_state(case)
    a, v = _inputs(case)
    la, lv, ma, mv, joint_layers, joint_maps, logits = ref.cross(sd, a, v, HEADS)
    di = case[2]
    with torch.no_grad():
        torch.testing.assert_close(model(a, v), logits, rtol=1e-9, atol=1e-9)
        for k in range(di + 1 if di else 0):
            torch.testing.assert_close(model.layer_output(a, "a", k), la[k], rtol=1e-9, atol=1e-9)
            torch.testing.assert_close(model.layer_output(v, "v", k), lv[k], rtol=1e-9, atol=1e-9)
            torch.testing.assert_close(model.joint_layer_output(a, v, k), torch.cat([la[k], lv[k]], 1))
        for j, expected in enumerate(joint_layers):
            # the joint stack's embedding is layer depth_i's successor only when depth_i = 0
            k = di + j if di else j
            if di and j == 0:
                continue
            torch.testing.assert_close(model.joint_layer_output(a, v, k), expected, rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(model.joint_layer_output(a, v, model.num_layers), logits, rtol=1e-9, atol=1e-9)
        got_a, got_v, got_joint = model.attention_maps(a, v)
    for got, expected in zip(got_a + got_v + got_joint, ma + mv + joint_maps, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-9)
    if case[3]:
        assert got_joint[0].shape == (3, HEADS, 2 * SEQ, 2 * SEQ)
    with pytest.raises(ValueError, match="joint_layer_output"):
        model.layer_output(a, "a", di + 1)


def test_fused_attention_equals_explicit_softmax():
    case = CASES[1]
    model, _ = _model_and_state(case)
    a, _ = _inputs(case)
    with torch.no_grad():
        fast = model(a, "a")
        model.set_fused_attention(False)
        slow = model(a, "a")
    torch.testing.assert_close(fast, slow, rtol=1e-10, atol=1e-10)


def test_attention_maps_are_distributions_and_pre_norm_maps_differ():
    case = CASES[0]
    model, sd = _model_and_state(case)
    a, _ = _inputs(case)
    with torch.no_grad():
        maps = model.attention_maps(a, "a")
        pre = model.attention_maps(a, "a", pre_norm=True)
    for m in maps + pre:
        torch.testing.assert_close(m.sum(-1), torch.ones(m.shape[:-1], dtype=m.dtype))
    # the reference analysis' maps (SPEC §8.5) skip norm1: not the maps the model uses
    assert not torch.allclose(maps[0], pre[0])


def test_wrong_modality_and_layer_and_length_are_rejected():
    case = CASES[0]
    model, _ = _model_and_state(case)
    a, _ = _inputs(case)
    with pytest.raises(ValueError, match="modality"):
        model(a, "x")
    with pytest.raises(ValueError, match="layer"):
        model.layer_output(a, "a", model.num_layers + 1)
    with pytest.raises(ValueError, match="seq_len"):
        model(a[:, :3], "a")


def test_aliases_for_modality_names():
    case = CASES[0]
    model, _ = _model_and_state(case)
    a, v = _inputs(case)
    with torch.no_grad():
        torch.testing.assert_close(model(a, "audio"), model(a, "a"))
        torch.testing.assert_close(model(v, "visual"), model(v, "v"))
