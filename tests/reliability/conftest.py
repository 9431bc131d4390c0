"""The tiny model the reliability tests predict with."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from helpers.bad_media import TINY
from helpers.tiny_models import save_tiny_checkpoint


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A tiny unified model whose file names random:tiny encoders, VGGSound labels and 32 px frames."""
    return save_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "model.safetensors", TINY, TINY)


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
