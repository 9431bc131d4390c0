"""Extraction speed: end-to-end clips/s on 10 s clips and the time of each stage.

Generates VGGSound-like clips (10 s, 640x360 at 25 fps h264, 44.1 kHz stereo AAC)
with the FFmpeg CLI, then runs ``uavm.extraction.extract`` on them with
random-weight encoders of the chosen ConvNeXt size (same compute as the
released ones) and prints a markdown table: wall-clock clips/s and, per clip,
the seconds of decode (open + demux + video filters + audio resampling, in the
worker processes), fbank (worker), audio net, visual net and store write (main
process). Beside it, the encoders' own clips/s (both networks on the same clips
decoded beforehand, same batches): the limit end-to-end extraction can reach
when decoding fully overlaps encoding, and the ratio of the two.

    python benchmarks/extract.py --clips 4 --size base --workers 2
    python benchmarks/extract.py --clips 4 --size base --workers 2 --bf16
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import torch
from clips import vggsound_like_clip  # benchmarks/clips.py, beside this script

from uavm.extraction import ExtractOptions, extract, read_inputs
from uavm.extraction.decode import decode_clip, init_worker
from uavm.extraction.extractor import FeatureExtractor
from uavm.feature_spec import FeatureSpec


def make_clips(folder: Path, count: int, seconds: float, distinct: int = 8) -> None:
    """``count`` clips: ``distinct`` made by the FFmpeg CLI, the others copies of them (decoding costs the same)."""
    for i in range(count):
        if i >= distinct:
            shutil.copyfile(folder / f"clip{i % distinct:04d}.mp4", folder / f"clip{i:04d}.mp4")
            continue
        vggsound_like_clip(folder / f"clip{i:04d}.mp4", seconds, frequency=200 + 50 * i)


def decode_sample(items: list, spec: FeatureSpec, workers: int) -> list:
    """The clips decoded beforehand (in worker processes, as extraction does) for the encoder-alone timings."""
    with multiprocessing.get_context("spawn").Pool(max(1, workers), initializer=init_worker) as pool:
        return pool.starmap(decode_clip, [(item, spec) for item in items])


def encoders_alone(extractor: FeatureExtractor, sample: list, batch_size: int, clips: int) -> float:
    """The encoders' own clips/s: both networks on decoded clips, batch by batch (the limit), over ``clips`` clips."""
    done, start = 0, time.perf_counter()
    while done < clips:
        for i in range(0, len(sample), batch_size):
            done += len(extractor.encode(sample[i : i + batch_size]))
    return done / (time.perf_counter() - start)


def visual_alone(extractor: FeatureExtractor, sample: list, frame_batch: int, clips: int) -> float:
    """The visual encoder's own clips/s at ``frame_batch`` frames per forward pass, on decoded clips."""
    frames = [torch.from_numpy(c.frames) for c in sample if c.frames is not None]
    visual = extractor.encoders.visual
    with torch.inference_mode():
        visual.encode(frames[0], batch_size=frame_batch, bf16=extractor.bf16)  # warm-up (kernel selection)
        done, start = 0, time.perf_counter()
        while done < clips:
            visual.encode(torch.cat(frames), batch_size=frame_batch, bf16=extractor.bf16)
            done += len(frames)
    return done / (time.perf_counter() - start)


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
    parser.add_argument(
        "--visual-batches",
        default=None,
        help="frames per visual forward pass to try, e.g. 64,128,256: the visual encoder alone at each, "
        "and end to end at the best",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    work = Path(tempfile.mkdtemp(prefix="uavm-bench-"))
    visual: dict[int, float] = {}
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
        items = read_inputs(work / "clips")
        sample = decode_sample(items[: min(len(items), 2 * args.batch_size)], extractor.spec, args.workers)
        for frame_batch in [int(b) for b in args.visual_batches.split(",")] if args.visual_batches else []:
            visual[frame_batch] = visual_alone(extractor, sample, frame_batch, min(len(items), 4 * len(sample)))
        if visual:
            extractor.frame_batch = options.frame_batch = max(visual, key=visual.get)
        # one warm-up clip so one-time set-up (kernel selection) is not counted per clip; it also
        # times the start (worker processes importing torch and PyAV, encoders' first call)
        start = time.perf_counter()
        extract(items[:1], work / "warmup", extractor, options)
        startup = time.perf_counter() - start
        encoders = encoders_alone(extractor, sample, args.batch_size, len(items))
        start = time.perf_counter()
        report = extract(items, work / "store", extractor, options)
        wall = time.perf_counter() - start
    finally:
        shutil.rmtree(work, ignore_errors=True)

    n = report.extracted
    device = str(extractor.device)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
        f"load average {os.getloadavg()[0]:.1f}; torch {torch.__version__}, threads {torch.get_num_threads()}; "
        f"device {device}"
    )
    print(
        f"{n} clips of {args.seconds:g} s, ConvNeXt-{args.size} encoders, {args.workers} decode workers, "
        f"batch {args.batch_size}, {options.frame_batch} frames per visual pass, "
        f"{'bf16' if args.bf16 or device.startswith('cuda') else 'fp32'}; "
        f"start (workers + one clip) {startup:.1f} s, included end to end"
    )
    print()
    if visual:
        print("| frames per visual pass | visual encoder alone clips/s |")
        print("|---|---|")
        for frame_batch, rate in visual.items():
            print(f"| {frame_batch} | {rate:.2f} |")
        print()
    print(
        "| clips/s (wall, end to end) | encoders alone clips/s | end to end / encoders "
        + ("| end to end / visual alone (best) " if visual else "")
        + "| encoders waited for decoding (% of wall) | decode s/clip | fbank s/clip | audio net s/clip "
        "| visual net s/clip | write s/clip |"
    )
    print("|---|---|---|" + ("---|" if visual else "") + "---|---|---|---|---|---|")
    per = {k: v / n for k, v in report.seconds.items()}
    waited = report.seconds.get("decode_wait", 0.0)  # the time the encoders had no batch (start included)
    best = f"| {n / wall / max(visual.values()):.0%} " if visual else ""
    print(
        f"| {n / wall:.3f} | {encoders:.3f} | {n / wall / encoders:.0%} {best}"
        f"| {waited:.1f} s ({waited / wall:.0%}) | {per['decode']:.3f} "
        f"| {per['fbank']:.3f} | {per['audio_net']:.3f} | {per['visual_net']:.3f} | {per['write']:.4f} |"
    )


if __name__ == "__main__":
    main()
