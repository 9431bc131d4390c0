"""Training data throughput: packed feature store vs per-clip ``.npy`` files (and the step on top).

    python benchmarks/train.py                        # data path, 3000 clips, batch 144, this CPU
    python benchmarks/train.py --step                 # also data + train step of the paper UAVM
    python benchmarks/train.py --epoch --clips 183000 --device cuda   # one VGGSound-size epoch on a GPU

Data path = everything the trainer does to produce a training batch: the epoch plan (balanced
sampling, mixup partners, λ, time shifts, modality per step), reading the features, feat_norm,
mixup, roll, soft targets. Three loaders read the same clips (1024-d, T 30; audio float32 and
visual float16 files as released):

* ``reference``: the reference's way, re-created here: per clip, load both modalities' ``.npy``
  (and the mixup partner's), transform in torch, collate;
* ``per-clip``: uavm's DatafileDataset (per-clip files, batched transforms, only the step's modality);
* ``store``: uavm's StoreDataset over the packed store (one gather per shard).

Features are written once into a temporary folder and read warm from the page cache (both
formats); cold reads from disk favour the store further (one large read instead of 144 small
files). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from uavm.data.datafile import DataEntry, write_datafile
from uavm.data.dataset import DatafileDataset, StoreDataset, TrainBatches, plan_epoch
from uavm.data.labels import load_labels
from uavm.data.sampling import balanced_weights
from uavm.data.transforms import AugmentConfig
from uavm.store import FeatureStoreWriter

AUGMENT = AugmentConfig(mixup=0.5, label_smoothing=0.1, noise=True, feat_norm=True)


def make_data(folder: Path, clips: int, dim: int, seed: int = 0) -> tuple[Path, Path]:
    """Per-clip files + datafile and the same clips packed into a store (VGGSound label mids)."""
    rng = np.random.default_rng(seed)
    entries = []
    (folder / "a").mkdir(parents=True, exist_ok=True)
    (folder / "v").mkdir(parents=True, exist_ok=True)
    with FeatureStoreWriter(folder / "store", seq_len=30, dim=dim, shard_size=4096, label_set="vggsound") as w:
        for i in range(clips):
            clip = f"clip{i:07d}"
            audio = rng.standard_normal((30, dim), dtype=np.float32)
            visual = rng.standard_normal((30, dim), dtype=np.float32).astype(np.float16)
            np.save(folder / "a" / f"{clip}.npy", audio)
            np.save(folder / "v" / f"{clip}.npy", visual)
            label = f"vgg_{rng.integers(0, 309)}"
            entries.append(
                DataEntry([label], afeat=str(folder / "a" / f"{clip}.npy"), vfeat=str(folder / "v" / f"{clip}.npy"))
            )
            w.add(clip, "bench", [label], audio, visual)
    write_datafile(folder / "data.json", entries)
    return folder / "data.json", folder / "store"


class ReferenceStyle(torch.utils.data.Dataset):
    """Per-clip loading as the reference does it: both modalities and the partner's, per clip."""

    def __init__(self, ds: DatafileDataset, seed: int = 0):
        self.ds = ds
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.ds)

    def _load(self, clip: int, m: str) -> torch.Tensor:
        x = torch.from_numpy(self.ds.load(clip, m).astype(np.float32))
        x = F.pad(x, (0, 0, 0, max(0, 30 - x.shape[0])))[:30]
        return F.normalize(x, dim=1)

    def __getitem__(self, clip: int):
        target = torch.full((309,), 0.1 / 309)
        a, v = self._load(clip, "a"), self._load(clip, "v")
        if self.rng.random() < 0.5:
            other = int(self.rng.integers(0, len(self.ds)))
            lam = float(self.rng.beta(10, 10))
            a = lam * a + (1 - lam) * self._load(other, "a")
            v = lam * v + (1 - lam) * self._load(other, "v")
            target[self.ds.label_indices[clip]] += lam * 0.9
            target[self.ds.label_indices[other]] += (1 - lam) * 0.9
        else:
            target[self.ds.label_indices[clip]] = 0.9
        shift = int(self.rng.integers(-15, 15))
        return torch.roll(a, shift, 0), torch.roll(v, shift, 0), target


def loader(kind: str, datafile: Path, store: Path, batch: int, workers: int, epoch: int = 0):
    labels = load_labels("vggsound")
    if kind == "reference":
        ds = DatafileDataset(datafile, labels, seq_len=30, check=False)
        weights = balanced_weights(ds.label_indices, len(labels))
        sampler = torch.utils.data.WeightedRandomSampler(weights, len(ds), replacement=True)
        return torch.utils.data.DataLoader(
            ReferenceStyle(ds), batch_size=batch, sampler=sampler, num_workers=workers, drop_last=True
        )
    ds = StoreDataset(store, labels) if kind == "store" else DatafileDataset(datafile, labels, 30, check=False)
    batches = TrainBatches(ds, AUGMENT)
    batches.plan = plan_epoch(
        len(ds),
        batch_size=batch,
        epoch=epoch,
        seed=0,
        augment=AUGMENT,
        weights=balanced_weights(ds.label_indices, len(labels)),
        a_tr_prob=0.5,
    )
    return torch.utils.data.DataLoader(
        batches, batch_size=None, num_workers=workers, prefetch_factor=4 if workers else None
    )


def time_loader(kind: str, datafile: Path, store: Path, batch: int, workers: int, max_batches: int, step=None) -> float:
    """Samples/s over up to ``max_batches`` batches (after one warm-up batch)."""
    it = iter(loader(kind, datafile, store, batch, workers))
    first = next(it)
    if step is not None:
        step(first)
    n, start = 0, time.perf_counter()
    for _, b in zip(range(max_batches), it):
        if step is not None:
            step(b)
        n += batch
    return n / (time.perf_counter() - start)


def paper_step(device: torch.device, bf16: bool, compile_model: bool = False):
    """A training step of the paper UAVM (the trainer's own ``training_step``)."""
    import uavm
    from uavm.train.schedule import build_optimizer
    from uavm.train.trainer import training_step

    torch.manual_seed(0)
    model = uavm.create_model("uavm_vggsound").to(device)
    forward = torch.compile(model) if compile_model else model
    opt = build_optimizer(model.parameters(), 5e-5)

    def step(batch):
        if isinstance(batch, (list, tuple)):  # reference-style batches: (a, v, targets); use audio
            batch = {"modality": "a", "a": batch[0], "targets": batch[2]}
        training_step(forward, opt, batch, device=device, bf16=bf16)

    return step


def epoch_time(store: Path, device: torch.device, batch: int, workers: int, compile_model: bool) -> float:
    """Seconds for one full training epoch over ``store`` (data + steps, no evaluation)."""
    step = paper_step(device, bf16=device.type == "cuda", compile_model=compile_model)
    it = loader("store", store, store, batch, workers, epoch=1)
    warm = loader("store", store, store, batch, 0, epoch=2)
    for _, b in zip(range(3), warm):
        step(b)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for b in it:
        step(b)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", type=int, default=3000)
    p.add_argument("--dim", type=int, default=1024)
    p.add_argument("--batch", type=int, default=144)
    p.add_argument("--batches", type=int, default=15, help="batches timed per data-path measurement")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    p.add_argument(
        "--step",
        action="store_true",
        help="also time data + paper-UAVM train step (bf16 on a GPU, fp32 on a CPU, as the trainer)",
    )
    p.add_argument("--step-batches", type=int, default=3)
    p.add_argument("--epoch", action="store_true", help="time one full epoch over the store (GPU)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--dir", default=None, help="reuse/keep the generated data here")
    args = p.parse_args()

    folder = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="uavm-bench-"))
    datafile, store = folder / "data.json", folder / "store"
    if not datafile.exists():
        t = time.perf_counter()
        datafile, store = make_data(folder, args.clips, args.dim)
        print(f"wrote {args.clips} clips in {time.perf_counter() - t:.0f} s to {folder}")
    cpu = platform.processor() or platform.machine()
    print(
        f"\n{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, torch threads {torch.get_num_threads()}, "
        f"load average {os.getloadavg()[0]:.1f}; batch {args.batch}, {args.clips} clips of T 30 × {args.dim}\n"
    )
    if args.epoch:
        device = torch.device(args.device)
        seconds = epoch_time(store, device, args.batch, max(args.workers), args.compile)
        dtype = "bf16" if device.type == "cuda" else "fp32"
        print(f"one epoch of {args.clips} clips, paper UAVM, {dtype}, {device}: {seconds:.1f} s")
        return
    print("| loader | workers | data samples/s | vs reference |")
    print("|---|---|---|---|")
    for workers in args.workers:
        rates = {
            k: time_loader(k, datafile, store, args.batch, workers, args.batches)
            for k in ("reference", "per-clip", "store")
        }
        for k, r in rates.items():
            print(f"| {k} | {workers} | {r:,.0f} | {r / rates['reference']:.1f}× |")
    if args.step:
        device = torch.device(args.device)
        bf16 = device.type == "cuda"
        step = paper_step(device, bf16=bf16)
        print(f"\n| loader | data + paper-UAVM train step ({'bf16' if bf16 else 'fp32'}, {device}) samples/s |")
        print("|---|---|")
        for k in ("reference", "per-clip", "store"):
            rate = time_loader(k, datafile, store, args.batch, 0, args.step_batches, step=step)
            print(f"| {k} | {rate:,.1f} |")


if __name__ == "__main__":
    main()
