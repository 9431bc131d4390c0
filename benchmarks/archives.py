"""Archives: streaming extraction from a tar.gz vs unpack-then-extract — throughput and peak disk use.

Generates VGGSound-like clips (10 s, 640x360 at 25 fps h264 + AAC, FFmpeg CLI), packs
them into a ``tar.gz`` as the mirrors do, and extracts them three ways with the
same encoders:

* ``stream (file)``: ``extract_archives`` on the local archive (members as bytes);
* ``stream (http)``: the same archive served from 127.0.0.1 (``hub.open_stream``);
* ``unpack + extract``: ``tarfile.extractall`` into a folder, then ``extract`` on it.

Peak disk is polled (every 20 ms) over everything each way writes — output store,
temporary folder, unpacked files — not counting the archive itself. Prints a markdown table.

    python benchmarks/archives.py --clips 24 --encoder tiny --short-side 64 --workers 2
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import os
import platform
import shutil
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from clips import vggsound_like_clip  # benchmarks/clips.py, beside this script

from uavm.extraction import ExtractOptions, extract, read_inputs
from uavm.extraction.archives import extract_archives
from uavm.extraction.extractor import FeatureExtractor
from uavm.feature_spec import FeatureSpec


def make_clips(folder: Path, count: int, seconds: float) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"vid{i:04d}_{10 * i:06d}.mp4"
        paths.append(vggsound_like_clip(path, seconds, frequency=220 + 20 * i))
    return paths


class PeakDisk:
    """The largest total size of the files under some folders, polled in a thread."""

    def __init__(self, *folders: Path):
        self.folders, self.peak, self._stop = folders, 0, threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _size(self) -> int:
        total = 0
        for folder in self.folders:
            for dirpath, _, files in os.walk(folder):
                for name in files:
                    try:
                        total += os.lstat(os.path.join(dirpath, name)).st_size
                    except OSError:
                        pass  # removed while walking
        return total

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._size())
            self._stop.wait(0.02)

    def __enter__(self) -> PeakDisk:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._size())


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[str]:
    """``folder`` over HTTP on 127.0.0.1 (quiet); yields the URL prefix."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--encoder", default="tiny", help="random-weight ConvNeXt size for both encoders")
    parser.add_argument("--short-side", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="uavm-bench-archives-"))
    try:
        clips = make_clips(base / "clips", args.clips, args.seconds)
        archive = base / "mirror" / "vggsound_00.tar.gz"
        archive.parent.mkdir()
        with tarfile.open(archive, "w:gz") as tar:
            for clip in clips:
                tar.add(clip, f"scratch/video/{clip.name}")
        media_bytes = sum(c.stat().st_size for c in clips)
        archive_bytes = archive.stat().st_size
        shutil.rmtree(base / "clips")

        spec = FeatureSpec(f"random:{args.encoder}", f"random:{args.encoder}", short_side=args.short_side)
        extractor = FeatureExtractor(spec, device="cpu")
        options = ExtractOptions(workers=args.workers, batch_size=args.batch_size, progress=False)
        rows = []

        def run(name: str, job, *watched: Path) -> None:
            for folder in watched:
                folder.mkdir(parents=True, exist_ok=True)
            start = time.perf_counter()
            with PeakDisk(*watched) as disk:
                job()
            seconds = time.perf_counter() - start
            rows.append((name, args.clips / seconds, seconds, disk.peak))

        tmp = base / "tmp"
        tempfile.tempdir = str(tmp)  # where anything temporary would go: watched too
        run(
            "stream (file)", lambda: extract_archives([str(archive)], base / "s1", extractor, options), base / "s1", tmp
        )
        store_bytes = sum(f.stat().st_size for f in (base / "s1").rglob("*") if f.is_file())
        with serve(archive.parent) as url_prefix:
            url = f"{url_prefix}/{archive.name}"
            run("stream (http)", lambda: extract_archives([url], base / "s2", extractor, options), base / "s2", tmp)

        def unpack_then_extract() -> None:
            with tarfile.open(archive, "r:gz") as tar:
                tar.extractall(base / "unpacked", filter="data")
            extract(read_inputs(base / "unpacked"), base / "s3", extractor, options)

        run("unpack + extract", unpack_then_extract, base / "unpacked", base / "s3", tmp)
        tempfile.tempdir = None
    finally:
        shutil.rmtree(base, ignore_errors=True)

    print(
        f"{args.clips} clips of {args.seconds:g} s, media {media_bytes / 2**20:.1f} MiB, archive "
        f"tar.gz; encoders random:{args.encoder}, short side {args.short_side}, {args.workers} workers; "
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    )
    print(
        f"store: {store_bytes / args.clips / 1024:.1f} KiB per clip ({extractor.dim}-wide features, "
        f"seq_len {spec.seq_len}); archive {archive_bytes / 2**20:.1f} MiB"
    )
    print("\n| way | clips/s | wall s | peak disk MiB (outside the archive) |\n|---|---|---|---|")
    for name, rate, seconds, peak in rows:
        print(f"| {name} | {rate:.2f} | {seconds:.1f} | {peak / 2**20:.2f} |")


if __name__ == "__main__":
    main()
