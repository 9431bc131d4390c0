"""Feature-store bookkeeping at corpus scale: write, open (+ dataset + sampling weights), a training batch.

    python benchmarks/scale.py                          # 10 k, 100 k, 1 M clips
    python benchmarks/scale.py --sizes 10000 300000     # other sizes

Features are dim 8 × T 30 so that only bookkeeping is timed (indexes, records, label lookups, the
per-shard work of a gather), not feature bytes. For each size the script writes a store of
``--shard-size`` clips per shard (VGGSound labels, one or two per clip) and times:

* write: ``FeatureStoreWriter.add`` of every clip + commits (µs per clip);
* open: ``FeatureStore`` + ``StoreDataset`` + ``balanced_weights`` in a fresh process (µs per clip);
* worker: pickling the training dataset to a DataLoader worker and back (size and time);
* batch (one torch thread): a training batch of 144 (epoch plan with mixup 0.5, smoothing 0.1, noise) made on the
  CPU: ``TrainBatches[step]`` then ``finish`` (ms, median of ``--batches``), and its growth over
  the smallest size; "first touch" is the first pass over those batches (the process maps the
  pages of the clips it reads: one kernel page fault per page, whatever the reader), "again" a
  second pass over the same batches.

Prints a markdown table. Runs against whichever ``uavm`` is on the path (to measure an older
version, put its ``src`` first on ``PYTHONPATH``).
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from uavm.data.dataset import StoreDataset, TrainBatches, plan_epoch
from uavm.data.labels import load_labels
from uavm.data.sampling import balanced_weights
from uavm.data.transforms import AugmentConfig
from uavm.store import FeatureStore, FeatureStoreWriter

AUGMENT = AugmentConfig(mixup=0.5, label_smoothing=0.1, noise=True, feat_norm=True)


def write(path: Path, clips: int, shard_size: int, dim: int) -> float:
    """Seconds to write ``clips`` clips."""
    rng = np.random.default_rng(0)
    labels = [[f"vgg_{a}"] if a % 3 else [f"vgg_{a}", f"vgg_{(a * 7) % 309}"] for a in rng.integers(0, 309, clips)]
    x = np.ones((30, dim), dtype=np.float16)
    start = time.perf_counter()
    with FeatureStoreWriter(path, seq_len=30, dim=dim, shard_size=shard_size, label_set="vggsound") as w:
        for i in range(clips):
            w.add(f"clip{i:08d}", f"videos/clip{i:08d}.mp4", labels[i], x, x)
    return time.perf_counter() - start


def open_all(path: Path) -> tuple[StoreDataset, np.ndarray]:
    """What training does before its first step: open the store, the dataset, the sampling weights."""
    labels = load_labels("vggsound")
    ds = StoreDataset(FeatureStore(path), labels)
    return ds, balanced_weights(ds.label_indices, len(labels))


def time_open(path: Path) -> float:
    """Seconds of :func:`open_all` in a fresh process (nothing cached in Python)."""
    code = (
        "import sys, time; sys.path.insert(0, sys.argv[2]); import scale; from pathlib import Path; "
        "t = time.perf_counter(); scale.open_all(Path(sys.argv[1])); print(time.perf_counter() - t)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path), str(Path(__file__).parent)], capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def time_batches(ds: StoreDataset, weights: np.ndarray, batches: int) -> tuple[float, float, int, float]:
    """Median ms per training batch on first touch and again (the same batches), the pickled size of the
    loader's dataset, ms to pickle + unpickle it."""
    train = TrainBatches(ds, AUGMENT)
    train.plan = plan_epoch(len(ds), batch_size=144, epoch=0, seed=0, augment=AUGMENT, weights=weights)
    start = time.perf_counter()
    blob = pickle.dumps(train)
    pickle.loads(blob)
    pickled_ms = (time.perf_counter() - start) * 1000
    finish = getattr(train, "finish", None)  # older uavm: the item is the batch
    medians = []
    for _ in range(2):  # first touch of the batches' pages, then the same batches again
        times = []
        for step in range(batches):
            start = time.perf_counter()
            item = train[step % len(train)]
            if finish is not None:
                finish(item)
            times.append(time.perf_counter() - start)
        medians.append(statistics.median(times) * 1000)
    return medians[0], medians[1], len(blob), pickled_ms


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--shard-size", type=int, default=1024)
    p.add_argument("--dim", type=int, default=8)
    p.add_argument("--batches", type=int, default=40)
    p.add_argument("--dir", default=None, help="keep (and reuse) the stores here")
    args = p.parse_args()
    # one thread: these batches are tiny, and on a shared machine a thread pool's hand-offs would be timed
    torch.set_num_threads(1)
    folder = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="uavm-scale-"))
    print(
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; shards of {args.shard_size}, dim {args.dim}\n"
    )
    print(
        "| clips | write µs/clip | open + dataset + weights | µs/clip | worker pickle "
        "| batch ms, first touch | growth | batch ms, again | growth |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    first = None
    for n in args.sizes:
        path = folder / f"store-{n}"
        wrote = folder / f"store-{n}.write-us"
        if not (path / "store.json").exists():
            wrote.write_text(f"{write(path, n, args.shard_size, args.dim) / n * 1e6:.1f}")
        opened = time_open(path)
        ds, weights = open_all(path)
        cold, warm, size, pickle_ms = time_batches(ds, weights, args.batches)
        first = first or (cold, warm)
        print(
            f"| {n:,} | {wrote.read_text() if wrote.exists() else '?'} | {opened:.2f} s | {opened / n * 1e6:.2f} "
            f"| {size / 1e6:.1f} MB, {pickle_ms:.0f} ms | {cold:.2f} | {cold / first[0]:.2f}× | {warm:.2f} "
            f"| {warm / first[1]:.2f}× |",
            flush=True,
        )


if __name__ == "__main__":
    main()
