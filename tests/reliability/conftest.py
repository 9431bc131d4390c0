"""The tiny model the reliability tests predict with."""

from __future__ import annotations

import shutil
import subprocess
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


@pytest.fixture
def tmpfs(tmp_path):
    """Mount a 1 MiB tmpfs (needs root and mount rights; skipped with the reason elsewhere)."""
    mounted = []

    def mount(name: str, options: str):
        point = tmp_path / name
        point.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True, text=True
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'mount failed'})")
        mounted.append(point)
        return point

    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    yield mount
    for point in mounted:
        subprocess.run(["umount", str(point)], check=False)
