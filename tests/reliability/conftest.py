"""The tiny model the reliability tests predict with."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import uavm
from helpers.bad_media import TINY


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A tiny unified model whose file names random:tiny encoders, VGGSound labels and 32 px frames."""
    torch.manual_seed(0)
    model = uavm.create_model(
        "unified", embed_dim=32, num_heads=2, depth_i=1, depth_s=1, num_classes=309, a_input_dim=768, v_input_dim=768
    )
    path = tmp_path_factory.mktemp("ckpt") / "model.safetensors"
    uavm.save_model(
        model,
        path,
        info={
            "audio_encoder": TINY,
            "visual_encoder": TINY,
            "labels": "vggsound",
            "short_side": 32,
            "feat_norm": True,
            "loss": "ce",
        },
    )
    return path
