"""Training data throughput: the reference's loader vs uavm's store path vs a bare float16 gather.

    python benchmarks/train.py                        # data path, 3000 clips, batch 144, this CPU
    python benchmarks/train.py --load 2               # the same while two busy-loop processes run
    python benchmarks/train.py --step                 # also data + train step of the paper UAVM
    python benchmarks/train.py --epoch --clips 183000 --device cuda   # one VGGSound-size epoch on a GPU

Data path = everything the trainer does to produce a training batch: the epoch plan (balanced
sampling, mixup partners, λ, time shifts, modality per step), reading the features, feat_norm,
mixup, roll, soft targets. The loaders read the same clips (1024-d, T 30; audio float32 and
visual float16 files as released):

* ``reference``: the reference's ``AudiosetDataset`` (``dataloader_mm.py``) re-created: the
  datafile kept as a NumPy string array; per sample both modalities' ``.npy`` loaded, padded /
  cut, L2-normalised; for a mixed sample (Python ``random``) a uniformly drawn partner's two
  files too; labels looked up from the comma-joined mids per sample; targets in float64 NumPy;
  ``np.random`` roll of both; batches by a ``WeightedRandomSampler`` DataLoader;
* ``per-clip``: uavm's DatafileDataset (per-clip files, only the step's modality, batched step);
* ``store (previous)``: the store path as it was before the batched device step (float32 rows
  per modality, then normalise / mix / targets per batch in NumPy + torch);
* ``store``: uavm's path as a CPU run takes it: the loader gathers float16 rows (rolled in the
  gather), ``TrainBatches.finish`` makes the batch on the CPU;
* ``store loader``: the loader's part alone as a GPU run takes it (whole float16 rows + draws;
  roll, feat_norm, mixup and targets then run on the GPU);
* ``bare gather``: ``np.take`` of the same float16 rows (clips + partners) from the store's
  memory map and nothing else: the physical limit of any loader of this store.

All are timed in one process, interleaved round by round (``--rounds``); the table gives the
median over rounds and each loader's median ratio to the reference in the same round.
``--load N`` starts N busy-loop processes first (the "loaded" condition). Features are written
once into a temporary folder and read warm from the page cache (both formats). Prints markdown.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import statistics
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
from uavm.data.transforms import AugmentConfig, make_targets, mix
from uavm.modality import NAMES
from uavm.store import FeatureStore, FeatureStoreWriter

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
    """The reference's ``AudiosetDataset`` for the ``av`` modality, re-created (see the module docstring)."""

    def __init__(self, datafile: Path, label_csv: dict[str, str], mixup: float, smoothing: float, seq_len: int = 30):
        items = json.loads(datafile.read_text())["data"]
        self.rows = np.array([[d["labels"], d["vfeat"], d["afeat"]] for d in items], dtype=str)
        self.mid_to_index = label_csv  # mid -> index as the CSV's text, as the reference keeps it
        self.num_classes = len(label_csv)
        self.mixup, self.smoothing, self.seq_len = mixup, smoothing, seq_len

    def __len__(self) -> int:
        return len(self.rows)

    def _features(self, path: str) -> torch.Tensor:
        x = torch.tensor(np.load(path), dtype=torch.float32)
        if x.shape[0] < self.seq_len:
            x = F.pad(x, [0, 0, 0, self.seq_len - x.shape[0]])
        elif x.shape[0] > self.seq_len:
            x = x[: self.seq_len, :]
        return F.normalize(x, dim=1)

    def __getitem__(self, i: int):
        labels, vfile, afile = (str(v) for v in self.rows[i])
        target = np.zeros(self.num_classes) + self.smoothing / self.num_classes
        if random.random() < self.mixup:
            other = self.rows[random.randint(0, len(self.rows) - 1)]
            o_labels, o_vfile, o_afile = (str(v) for v in other)
            lam = np.random.beta(10, 10)
            a = lam * self._features(afile) + (1 - lam) * self._features(o_afile)
            v = lam * self._features(vfile) + (1 - lam) * self._features(o_vfile)
            for mid in labels.split(","):
                target[int(self.mid_to_index[mid])] += lam * (1.0 - self.smoothing)
            for mid in o_labels.split(","):
                target[int(self.mid_to_index[mid])] += (1.0 - lam) * (1.0 - self.smoothing)
        else:
            a, v = self._features(afile), self._features(vfile)
            for mid in labels.split(","):
                target[int(self.mid_to_index[mid])] = 1.0 - self.smoothing
        shift = np.random.randint(-15, 15)
        return torch.roll(a, shift, 0), torch.roll(v, shift, 0), torch.FloatTensor(target)


def previous_features(x: np.ndarray, partner_x: np.ndarray | None, mixed: np.ndarray, lam: np.ndarray) -> torch.Tensor:
    """The previous path's features of one modality: float32, feat_norm, then the mixed rows gathered, mixed, put back."""

    def as_float(a: np.ndarray) -> torch.Tensor:
        out = torch.from_numpy(a).to(torch.float32)
        return out.div_(torch.linalg.vector_norm(out, dim=-1, keepdim=True).clamp_min_(1e-12))

    out = as_float(x)
    rows = np.flatnonzero(mixed)
    if len(rows):
        index = torch.from_numpy(rows)
        out[index] = mix(out[index], as_float(partner_x), torch.from_numpy(lam[rows]))
    return out


class PreviousBatches(TrainBatches):
    """The store path before the batched device step: float32 batches made per batch in the loader."""

    def __getitem__(self, step: int) -> dict:
        indices, aug, modality = self.plan.batch(step, self.rank, self.world_size)
        partners = aug.partner[aug.mixed]
        batch: dict = {"modality": modality}
        for m in ("a", "v"):
            if m in modality:
                x = self.dataset.read(indices, m, aug.shift)
                px = self.dataset.read(partners, m, aug.shift[aug.mixed]) if len(partners) else None
                batch[m] = previous_features(x, px, aug.mixed, aug.lam)
        own = [self.dataset.label_indices[i] for i in indices]
        other = [self.dataset.label_indices[p] if mixed else None for p, mixed in zip(aug.partner, aug.mixed)]
        batch["targets"] = make_targets(own, len(self.dataset.labels), self.augment.label_smoothing, other, aug.lam)
        return batch

    def finish(self, raw: dict, device="cpu") -> dict:
        return raw


class BareGather(torch.utils.data.Dataset):
    """``np.take`` of the plan's rows (clips, then the mixed clips' partners) from one shard's memory map."""

    def __init__(self, batches: TrainBatches, store: FeatureStore):
        self.batches = batches
        self.arrays = {
            m: np.load(store.path / store.manifest.shards[0].name / f"{NAMES[m]}.npy", mmap_mode="r") for m in "av"
        }

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, step: int) -> np.ndarray:
        indices, aug, modality = self.batches.plan.batch(step)
        rows = np.concatenate([indices, aug.partner[aug.mixed]])
        return np.take(self.arrays[modality], rows, axis=0)


KINDS = ("reference", "per-clip", "store (previous)", "store", "store loader", "bare gather")


def loader(kind: str, datafile: Path, store: Path, batch: int, workers: int, epoch: int = 0, pin: bool = False):
    """``(DataLoader, finish)``: the loader of ``kind`` and what turns its items into training batches."""
    labels = load_labels("vggsound")
    if kind == "reference":
        weights = balanced_weights(DatafileDataset(datafile, labels, 30, check=False).label_indices, len(labels))
        csv_index = {mid: str(i) for i, mid in enumerate(labels.mids)}
        ds = ReferenceStyle(datafile, csv_index, AUGMENT.mixup, AUGMENT.label_smoothing)
        sampler = torch.utils.data.WeightedRandomSampler(weights, len(ds), replacement=True)
        dl = torch.utils.data.DataLoader(ds, batch_size=batch, sampler=sampler, num_workers=workers, drop_last=True)
        return dl, None
    ds = DatafileDataset(datafile, labels, 30, check=False) if kind == "per-clip" else StoreDataset(store, labels)
    if kind == "store (previous)":
        batches = PreviousBatches(ds, AUGMENT)
    else:  # "store loader" / "bare gather": what a GPU run's loader does (it rolls in the step)
        batches = TrainBatches(ds, AUGMENT, roll_on_device=kind in ("store loader", "bare gather") or pin)
    batches.plan = plan_epoch(
        len(ds),
        batch_size=batch,
        epoch=epoch,
        seed=0,
        augment=AUGMENT,
        weights=balanced_weights(ds.label_indices, len(labels)),
        a_tr_prob=0.5,
    )
    items = BareGather(batches, ds.store) if kind == "bare gather" else batches
    finish = None if kind in ("bare gather", "store loader") else batches.finish
    dl = torch.utils.data.DataLoader(
        items, batch_size=None, num_workers=workers, prefetch_factor=4 if workers else None, pin_memory=pin
    )
    return dl, finish


def time_loader(kind: str, datafile: Path, store: Path, batch: int, workers: int, max_batches: int, step=None) -> float:
    """Samples/s over up to ``max_batches`` batches (after one warm-up batch), training batches made on the CPU."""
    dl, finish = loader(kind, datafile, store, batch, workers)
    it = iter(dl)
    first = next(it)
    first = finish(first) if finish else first
    if step is not None:
        step(first)
    n, start = 0, time.perf_counter()
    for _, b in zip(range(max_batches), it):
        b = finish(b) if finish else b
        if step is not None:
            step(b)
        n += batch
    return n / (time.perf_counter() - start)


def busy_loop() -> None:
    """A CPU-bound process (the "loaded" condition)."""
    x = 0
    while True:
        x += 1


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
    """Seconds for one full training epoch over ``store`` (data + steps, no evaluation), as the trainer runs it."""
    step = paper_step(device, bf16=device.type == "cuda", compile_model=compile_model)
    pin = device.type == "cuda"
    it, finish = loader("store", store, store, batch, workers, epoch=1, pin=pin)
    warm, _ = loader("store", store, store, batch, 0, epoch=2)
    for _, b in zip(range(3), warm):
        step(finish(b, device))
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for b in it:
        step(finish(b, device))
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
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (every loader once per round)")
    p.add_argument("--load", type=int, default=0, help="busy-loop processes to run meanwhile (the loaded condition)")
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
    busy = [multiprocessing.Process(target=busy_loop, daemon=True) for _ in range(args.load)]
    for proc in busy:
        proc.start()
    condition = f"loaded: {args.load} busy-loop processes" if args.load else "quiet"
    try:
        for workers in args.workers:
            rates: dict[str, list[float]] = {k: [] for k in KINDS}
            ratios: dict[str, list[float]] = {k: [] for k in KINDS}
            for _ in range(args.rounds):
                now = {k: time_loader(k, datafile, store, args.batch, workers, args.batches) for k in KINDS}
                for k in KINDS:
                    rates[k].append(now[k])
                    ratios[k].append(now[k] / now["reference"])
            bare = statistics.median(r / g for r, g in zip(rates["store loader"], rates["bare gather"]))
            print(
                f"\nworkers {workers}, {condition}, median of {args.rounds} interleaved rounds; store loader / bare gather "
                f"{bare:.0%}\n"
            )
            print("| loader | data samples/s | vs reference (same round) |")
            print("|---|---|---|")
            for k in KINDS:
                print(f"| {k} | {statistics.median(rates[k]):,.0f} | {statistics.median(ratios[k]):.1f}× |")
    finally:
        for proc in busy:
            proc.terminate()
    if args.step:
        device = torch.device(args.device)
        bf16 = device.type == "cuda"
        step = paper_step(device, bf16=bf16)
        print(f"\n| loader | data + paper-UAVM train step ({'bf16' if bf16 else 'fp32'}, {device}) samples/s |")
        print("|---|---|")
        for k in ("reference", "per-clip", "store (previous)", "store"):
            rate = time_loader(k, datafile, store, args.batch, 0, args.step_batches, step=step)
            print(f"| {k} | {rate:,.1f} |")


if __name__ == "__main__":
    main()
