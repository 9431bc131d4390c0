"""``uavm predict`` on one 10 s clip: wall time and its split (decode + fbank / features / model).

    python benchmarks/predict.py                 # paper sizes: ConvNeXt-Base encoders, paper UAVM
    python benchmarks/predict.py --size tiny     # smaller encoders

The released weights cannot be downloaded here, so the model and both encoders have random
weights of the released sizes (the compute is the same). The clip is VGGSound-like: 10 s,
640x360 at 25 fps h264, 44.1 kHz stereo AAC, made with the FFmpeg CLI. Prints a markdown table:
the whole command as a user runs it (a fresh process: imports, loading, prediction), then the
Predictor's own split of one prediction in a warm process.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import uavm


def make_clip(path: Path, seconds: float) -> None:
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size=640x360:rate=25:duration={seconds}",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=440:sample_rate=44100:duration={seconds}",
            "-ac",
            "2",
            "-c:a",
            "aac",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-pix_fmt",
            "yuv420p",
            "-shortest",
            str(path),
        ],
        check=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="base", help="ConvNeXt size of both encoders")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--bf16", action="store_true", help="encoders in bfloat16 autocast (uavm predict --bf16)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="uavm-bench-"))
    clip, checkpoint = work / "clip.mp4", work / "model.safetensors"
    make_clip(clip, args.seconds)
    dim = {"tiny": 768, "small": 768, "base": 1024, "large": 1536}[args.size]
    model = uavm.create_model("uavm_vggsound", a_input_dim=dim, v_input_dim=dim)
    uavm.save_model(
        model,
        checkpoint,
        info={
            "audio_encoder": f"random:{args.size}:0",
            "visual_encoder": f"random:{args.size}:1",
            "labels": "vggsound",
        },
    )

    start = time.perf_counter()
    flag = ["--bf16"] if args.bf16 else []
    done = subprocess.run(
        [sys.executable, "-m", "uavm", "predict", str(clip), "--model", str(checkpoint), *flag],
        capture_output=True,
        text=True,
    )
    command = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(done.stderr)

    start = time.perf_counter()
    predictor = uavm.Predictor(checkpoint, device="cpu", bf16=args.bf16 or None)
    load = time.perf_counter() - start
    predictor.predict(clip)  # warm-up
    runs = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        result = predictor.predict(clip)
        runs.append((time.perf_counter() - start, result.seconds))
    wall, split = min(runs, key=lambda r: r[0])

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
        f"load average {os.getloadavg()[0]:.1f}; torch {torch.__version__}, threads {torch.get_num_threads()}"
    )
    print(
        f"clip: {args.seconds:g} s, 640x360 25 fps h264 + 44.1 kHz stereo aac; ConvNeXt-{args.size} encoders, "
        f"paper UAVM (random weights of the released sizes), CPU, encoders in {'bf16' if args.bf16 else 'fp32'}\n"
    )
    print(
        "| `uavm predict` command (fresh process) s | model + encoders load s | one prediction s "
        "| decode + fbank s | features (audio + visual nets) s | model s |"
    )
    print("|---|---|---|---|---|---|")
    print(
        f"| {command:.2f} | {load:.2f} | {wall:.2f} | {split['decode_and_fbank']:.2f} | {split['features']:.2f} "
        f"| {split['model']:.3f} |"
    )


if __name__ == "__main__":
    main()
