"""view_logits: the audio-only, visual-only and fused views every caller (predict, timeline, evaluation) uses."""

import pytest
import torch

from helpers.tiny_models import small_config
from uavm.models import build_model
from uavm.models.views import view_logits


def _model(arch):
    torch.manual_seed(0)
    return build_model(small_config(arch, embed_dim=16)).eval()


@pytest.mark.parametrize("arch", ["unified", "independent"])
@torch.no_grad()
def test_one_modality_models_score_each_view_alone_and_average_for_fused(arch):
    model = _model(arch)
    a, v = torch.randn(3, 4, 8), torch.randn(3, 4, 8)
    out = view_logits(model, a, v)
    assert list(out) == ["a", "v", "av"]
    torch.testing.assert_close(out["a"], model(a, "a"))
    torch.testing.assert_close(out["v"], model(v, "v"))
    torch.testing.assert_close(out["av"], (model(a, "a") + model(v, "v")) / 2)
    alone = view_logits(model, None, v)
    assert alone["a"] is None and alone["av"] is None
    torch.testing.assert_close(alone["v"], model(v, "v"))


@torch.no_grad()
def test_cross_attention_gets_zeros_for_the_missing_modality():
    model = _model("cross_attention")
    a, v = torch.randn(2, 4, 8), torch.randn(2, 4, 8)
    zeros = torch.zeros(2, 4, 8)
    out = view_logits(model, a, v)
    torch.testing.assert_close(out["a"], model(a, zeros))
    torch.testing.assert_close(out["v"], model(zeros, v))
    torch.testing.assert_close(out["av"], model(a, v))
    audio_only = view_logits(model, a, None)
    torch.testing.assert_close(audio_only["a"], model(a, zeros))
    assert audio_only["v"] is None and audio_only["av"] is None
    assert view_logits(model, None, None) == {"a": None, "v": None, "av": None}
