"""``benchmarks/gpu.sh --dry-run``: the GPU script's every step runs (tiny sizes, CPU) and writes its results.

The dry run writes where ``--out`` says, never over the committed ``benchmarks/RESULTS_gpu.md``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu.sh"
COMMITTED = ROOT / "benchmarks" / "RESULTS_gpu.md"
SECTIONS = (
    "## CUDA-marked tests",
    "## Extraction end to end vs the encoders alone",
    "## Training epoch (paper UAVM, store loader)",
    "## uavm predict latency",
)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="the benchmarks make their clips with the FFmpeg CLI")
def test_dry_run_writes_every_section_to_the_given_file(tmp_path):
    committed = COMMITTED.read_bytes() if COMMITTED.exists() else None
    out = tmp_path / "results" / "RESULTS_gpu.md"
    env = {**os.environ, "UAVM_PYTHON": sys.executable, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.run(
        ["bash", str(SCRIPT), "--dry-run", "--out", str(out)], capture_output=True, text=True, env=env, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert "**Dry run**" in text
    for title in SECTIONS:
        section = text.split(title, 1)[1].split("\n## ", 1)[0]
        assert "— ok," in section, section
    assert "| clips/s (wall, end to end) |" in text and "| frames per visual pass |" in text
    assert "one epoch of 32 clips" in text and "Scaled to a VGGSound epoch" in text
    assert "| `uavm predict` command s |" in text
    assert (COMMITTED.read_bytes() if COMMITTED.exists() else None) == committed


def test_unknown_arguments_are_refused():
    proc = subprocess.run(["bash", str(SCRIPT), "--fast"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "unknown argument --fast" in proc.stderr
