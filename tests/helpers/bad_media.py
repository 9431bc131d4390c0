"""Media generators and an in-process CLI runner for the reliability tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from uavm.cli import main

TINY = "random:tiny"


def make_clip(
    ffmpeg: str,
    path: Path,
    seconds: float = 1,
    size: str = "160x120",
    rate: str = "25",
    audio: bool = True,
    extra: list[str] | None = None,
    pattern: str = "testsrc2",
) -> Path:
    """A generated h264(+aac) clip: a moving test pattern (an FFmpeg lavfi source) and a tone."""
    cmd = [ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", f"{pattern}=size={size}:rate={rate}:duration={seconds}"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "aac"]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", *(extra or []), "-shortest", str(path)]
    subprocess.run(cmd, check=True, capture_output=True)
    return path


def cli_frames(
    ffmpeg: str, path: Path, width: int, height: int, fps: float = 3, flags: str | None = None
) -> np.ndarray:
    """What the reference's command gives: ``ffmpeg -i CLIP -vf fps=F,scale=W:H -pix_fmt rgb24`` as raw frames."""
    vf = f"fps={fps},scale={width}:{height}" + (f":flags={flags}" if flags else "")
    cmd = [ffmpeg, "-v", "error", "-i", str(path), "-vf", vf, "-pix_fmt", "rgb24", "-f", "rawvideo", "-"]
    raw = subprocess.run(cmd, check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    """``uavm ARGS`` in this process: (exit status, stdout, stderr)."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def extract_args(source: Path, out: Path, short_side: int = 32) -> list:
    return [
        "extract",
        source,
        "--out",
        out,
        "--audio-encoder",
        TINY,
        "--visual-encoder",
        TINY,
        "--workers",
        "0",
        "--short-side",
        str(short_side),
        "--quiet",
    ]
