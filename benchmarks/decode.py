"""Frame decoding speed: ``load_frames`` (PyAV, in process) vs the FFmpeg CLI as a subprocess.

    python benchmarks/decode.py                  # 5 s 720p and 10 s 640x360 clips, 7 repeats
    python benchmarks/decode.py --repeats 15

Clips are generated with the FFmpeg CLI (lavfi ``testsrc2`` + ``sine``, libx264 / AAC). The CLI
runs the reference's command, ``ffmpeg -i CLIP -vf fps=3,scale=W:H -pix_fmt rgb24 -f rawvideo -``,
read back through a pipe into a NumPy array (what a caller of the CLI needs). Every variant runs
once per repeat, in an order that rotates between repeats (interleaved, so a burst of load
from other jobs falls on all of them alike); the table gives the median seconds and the median
over repeats of the per-repeat ratio CLI / variant. The first run of each variant checks that
its frames equal the CLI's. The load average before and after is printed: on a shared machine
state whether it was quiet.

Rows: every frame decoded (the code before frame skipping) with one thread and with frame
threading; ``load_frames`` (non-reference frames the fps filter drops are not decoded) with one
thread (what extraction workers do) and with frame threading on every core (``threads=0``:
predict, the timeline, serve); decoding alone without the filters (what the fps + scale + rgb24
graph adds); ``decode_clip`` as predict runs it (both tracks, frames + fbank) with one thread
and with frame threading.
"""

from __future__ import annotations

import argparse
import os
import platform
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

CLIPS = {"5 s 1280x720": (1280, 720, 5), "10 s 640x360": (640, 360, 10)}


def make_clip(folder: Path, width: int, height: int, seconds: int) -> Path:
    """A 25 fps h264 clip with 44.1 kHz stereo AAC, as VGGSound's clips are."""
    path = folder / f"clip_{width}x{height}_{seconds}s.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate=25:d={seconds}"]
        + ["-f", "lavfi", "-i", f"sine=f=440:r=44100:d={seconds}", "-ac", "2", "-c:v", "libx264"]
        + ["-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)],
        check=True,
    )
    return path


def cli_frames(path: Path, width: int, height: int) -> np.ndarray:
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-vf", f"fps=3,scale={width}:{height}"]
        + ["-pix_fmt", "rgb24", "-f", "rawvideo", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)


def decode_only(path: Path, threads: int) -> int:
    """Decode every video frame, no filters: the floor under ``load_frames``."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if threads != 1:
            stream.thread_type = "AUTO"
        stream.codec_context.thread_count = threads
        return sum(1 for _ in container.decode(stream))


def frames_without_skipping(path: Path, threads: int) -> np.ndarray:
    """``load_frames`` as it was before frame skipping: every frame decoded."""
    with open_media(path) as container:
        sampler = FrameSampler(container, path, threads=threads, skip_dropped=False)
        for frame in container.decode(sampler.stream):
            sampler.push(frame)
        return sampler.finish().numpy()


def variants(path: Path, width: int, height: int) -> dict[str, Callable[[], object]]:
    spec = FeatureSpec(short_side=224)
    item = ClipInput(path.name, path)
    return {
        "ffmpeg CLI subprocess (reference)": lambda: cli_frames(path, width, height),
        "every frame decoded, threads=1 (before)": lambda: frames_without_skipping(path, 1),
        "every frame decoded, threads=0 (frame threading only)": lambda: frames_without_skipping(path, 0),
        "load_frames, threads=1 (extraction worker)": lambda: load_frames(path, threads=1).numpy(),
        "load_frames, threads=0 (predict, timeline, serve)": lambda: load_frames(path, threads=0).numpy(),
        "decode only, no filters, threads=1": lambda: decode_only(path, 1),
        "decode only, no filters, threads=0": lambda: decode_only(path, 0),
        "decode_clip (frames + fbank), threads=1": lambda: decode_clip(item, spec, threads=1),
        "decode_clip (frames + fbank), threads=0 (predict)": lambda: decode_clip(item, spec, threads=0),
    }


def measure(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    names = list(runs)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            start = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - start)
    return times


def check_exact(path: Path, width: int, height: int) -> None:
    reference = cli_frames(path, width, height)
    for threads in (1, 0):
        ours = load_frames(path, threads=threads).numpy()
        assert (frames_without_skipping(path, threads) == ours).all()
        assert ours.shape == reference.shape and (ours == reference).all(), f"{path}: threads={threads} differs"
    clip = decode_clip(ClipInput(path.name, path), FeatureSpec(short_side=224), threads=0)
    assert (clip.frames == reference[: len(clip.frames)]).all(), f"{path}: decode_clip differs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    cli_version = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.split("\n")[0]
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; PyAV {av.__version__} "
        f"(libavcodec {'.'.join(map(str, av.library_versions['libavcodec']))}); CLI: {cli_version}"
    )
    print(f"# load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {args.repeats} repeats")
    with tempfile.TemporaryDirectory() as tmp:
        for label, (w, h, seconds) in CLIPS.items():
            path = make_clip(Path(tmp), w, h, seconds)
            width, height = output_size(w, h, 224)
            check_exact(path, width, height)
            runs = variants(path, width, height)
            times = measure(runs, args.repeats)
            cli = times["ffmpeg CLI subprocess (reference)"]
            print(f"\n## {label}, 25 fps h264 + AAC → 3 fps {width}x{height} RGB (frames equal the CLI's)\n")
            print("| variant | median s | best s | CLI / variant (median of per-repeat ratios) |")
            print("|---|---|---|---|")
            for name, ts in times.items():
                ratio = statistics.median(c / t for c, t in zip(cli, ts))
                print(f"| {name} | {statistics.median(ts):.3f} | {min(ts):.3f} | {ratio:.2f}× |")
    print(f"\n# load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
