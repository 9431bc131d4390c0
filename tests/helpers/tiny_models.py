"""The tiny models and model files the tests build: the real architectures, small enough for a shared CPU."""

from __future__ import annotations

from pathlib import Path

import torch

import uavm
from uavm.models import ModelConfig

AUDIO, VISUAL, SHORT_SIDE = "random:tiny:3", "random:tiny:4", 32  # random ConvNeXt-tiny encoders: 768-d features


def tiny_model(arch: str = "unified", num_classes: int = 309, **overrides) -> torch.nn.Module:
    """A 1+1-layer, 32-d model over 768-d features (the random:tiny encoders'), the same weights every build."""
    torch.manual_seed(0)
    sizes = dict(embed_dim=32, num_heads=2, depth_i=1, depth_s=1, a_input_dim=768, v_input_dim=768)
    return uavm.create_model(arch, num_classes=num_classes, **{**sizes, **overrides})


def save_tiny_checkpoint(path: Path, audio_encoder: str = AUDIO, visual_encoder: str = VISUAL) -> Path:
    """A unified ``tiny_model`` saved at ``path``, its file saying how inputs are made (encoders, VGGSound, 32 px)."""
    info = {
        "audio_encoder": audio_encoder,
        "visual_encoder": visual_encoder,
        "labels": "vggsound",
        "short_side": SHORT_SIDE,
        "feat_norm": True,
        "loss": "ce",
    }
    return uavm.save_model(tiny_model("unified"), path, info=info)


# a 1+1-layer, 32-d model over 4 steps of 8-d features, 5 classes: for tests of the model code itself
SMALL = dict(embed_dim=32, num_heads=2, depth_i=1, depth_s=1, num_classes=5, seq_len=4, a_input_dim=8, v_input_dim=8)


def small_config(arch: str = "unified", **overrides) -> ModelConfig:
    """The ``SMALL`` sizes of ``arch``, some changed by ``overrides``."""
    return ModelConfig(arch, **{**SMALL, **overrides})


# ``uavm train`` overrides for a quick run of a tiny model on write_synthetic data of 8 steps
TRAIN_OVERRIDES = [
    "model.embed_dim=32",
    "model.num_heads=2",
    "model.depth_i=1",
    "model.depth_s=1",
    "model.seq_len=8",
    "batch_size=32",
    "lr=1e-3",
    "num_workers=0",
    "progress=false",
    "eval_batch_size=64",
]
