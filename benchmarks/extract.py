"""Extraction speed: end-to-end clips/s on 10 s clips and the time of each stage.

Generates VGGSound-like clips (10 s, 640x360 at 25 fps h264, 44.1 kHz stereo AAC)
with the FFmpeg CLI, then runs ``uavm.extraction.extract`` on them with
random-weight encoders of the chosen ConvNeXt size (same compute as the
released ones) and prints a markdown table: wall-clock clips/s and, per clip,
the seconds of decode (open + demux + video filters + audio resampling, in the
worker processes), fbank (worker), audio net, visual net and store write (main
process).

    python benchmarks/extract.py --clips 4 --size base --workers 2
    python benchmarks/extract.py --clips 4 --size base --workers 2 --bf16
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import torch

from uavm.extraction import ExtractOptions, extract, read_inputs
from uavm.extraction.extractor import FeatureExtractor
from uavm.feature_spec import FeatureSpec


def make_clips(folder: Path, count: int, seconds: float) -> None:
    for i in range(count):
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
                f"sine=frequency={200 + 50 * i}:sample_rate=44100:duration={seconds}",
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
                str(folder / f"clip{i:04d}.mp4"),
            ],
            check=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--size", default="base", help="ConvNeXt size of both encoders (tiny, small, base, large)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast + channels-last encoders")
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch threads of the main process")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    work = Path(tempfile.mkdtemp(prefix="uavm-bench-"))
    try:
        (work / "clips").mkdir()
        make_clips(work / "clips", args.clips, args.seconds)
        options = ExtractOptions(
            workers=args.workers, batch_size=args.batch_size, device=args.device, bf16=args.bf16 or None, progress=False
        )
        extractor = FeatureExtractor(
            FeatureSpec(f"random:{args.size}", f"random:{args.size}"),
            device=args.device,
            bf16=options.bf16,
            frame_batch=options.frame_batch,
        )
        # one warm-up clip so one-time set-up (kernel selection, worker start) is not counted per clip
        items = read_inputs(work / "clips")
        extract(items[:1], work / "warmup", extractor, options)
        start = time.perf_counter()
        report = extract(items, work / "store", extractor, options)
        wall = time.perf_counter() - start
    finally:
        shutil.rmtree(work, ignore_errors=True)

    n = report.extracted
    device = options.device or ("cuda" if torch.cuda.is_available() else "cpu")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
        f"load average {os.getloadavg()[0]:.1f}; torch {torch.__version__}, threads {torch.get_num_threads()}; "
        f"device {device}"
    )
    print(
        f"{n} clips of {args.seconds:g} s, ConvNeXt-{args.size} encoders, {args.workers} decode workers, "
        f"batch {args.batch_size}, {'bf16' if args.bf16 or device.startswith('cuda') else 'fp32'}"
    )
    print()
    print(
        "| clips/s (wall, end to end) | decode s/clip | fbank s/clip | audio net s/clip | visual net s/clip "
        "| write s/clip |"
    )
    print("|---|---|---|---|---|---|")
    per = {k: v / n for k, v in report.seconds.items()}
    print(
        f"| {n / wall:.3f} | {per['decode']:.3f} | {per['fbank']:.3f} | {per['audio_net']:.3f} "
        f"| {per['visual_net']:.3f} | {per['write']:.4f} |"
    )


if __name__ == "__main__":
    main()
