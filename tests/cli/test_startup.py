"""`uavm --help` and every `uavm CMD --help` answer without importing torch (or numpy).

Each help runs in a fresh interpreter with ``-X importtime``, whose report (on stderr)
names every module the process imported; torch in it means the command list or a
command's options pulled in the heavy library modules at start-up.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from uavm.cli import COMMANDS

HEAVY = ("torch", "numpy", "torchvision", "av", "safetensors")


def imported_modules(*args: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "uavm", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return proc, names


@pytest.mark.parametrize("command", [None, *sorted(COMMANDS), "analyze probe", "analyze sweep"])
def test_help_does_not_import_torch(command):
    args = [*(command.split() if command else []), "--help"]
    proc, modules = imported_modules(*args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Usage:" in proc.stdout
    assert "uavm" in modules or "uavm.cli" in modules  # the report was read
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert not heavy, f"uavm {' '.join(args)} imported {heavy[:5]}"
