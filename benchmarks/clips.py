"""VGGSound-like clips for the benchmarks, made with the FFmpeg CLI: 640x360 at 25 fps h264, 44.1 kHz stereo AAC."""

from __future__ import annotations

import subprocess
from pathlib import Path


def vggsound_like_clip(path: Path, seconds: float, frequency: float = 440) -> Path:
    """A moving test pattern (lavfi ``testsrc2``) with a ``frequency`` Hz tone, ``seconds`` long, written to ``path``."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=25:duration={seconds}"]
        + ["-f", "lavfi", "-i", f"sine=frequency={frequency}:sample_rate=44100:duration={seconds}"]
        + ["-ac", "2", "-c:a", "aac", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
        + ["-shortest", str(path)],
        check=True,
    )
    return path
