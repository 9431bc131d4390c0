"""Audio-encoder throughput (clips/s): feature extraction and training steps, fp32 vs bf16 autocast.

    python benchmarks/audio_encoder.py                       # tiny and base on the CPU (and CUDA if present)
    python benchmarks/audio_encoder.py --sizes base --batch 8 --repeats 3

Extraction = ``encode`` of a batch of normalised 990-frame fbanks (one 10 s clip
each), as ``uavm extract`` runs it. Train step = forward on 1000 frames +
cross-entropy + backward + Adam, as ``uavm train-audio-encoder`` runs it (fbank
and augmentation excluded: benchmarks/fbank.py times those). Best of
``--repeats`` runs, which filters out other jobs on a shared machine.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform

import torch
import torch.nn.functional as F
from fbank import best_rate  # benchmarks/fbank.py, beside this script

from uavm.features.audio_encoder import AudioEncoder


def autocast(device: str, dtype: str) -> contextlib.AbstractContextManager:
    if dtype == "bf16":
        return torch.autocast(device_type=device, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def measure(size: str, device: str, dtype: str, batch: int, repeats: int, train_batch: int) -> tuple[float, float]:
    """(extraction clips/s, training clips/s)."""
    torch.manual_seed(0)
    model = AudioEncoder(size, num_classes=309).to(device)
    x = torch.randn(batch, 990, 128, device=device)

    def extract() -> None:
        with torch.inference_mode(), autocast(device, dtype):
            model.encode(x)

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    model.eval()
    extraction = best_rate(extract, batch, repeats, sync)

    model.train()
    xt = torch.randn(train_batch, 1000, 128, device=device)
    targets = torch.softmax(torch.randn(train_batch, 309, device=device), dim=1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.95, 0.999), weight_decay=5e-7)

    def train_step() -> None:
        with autocast(device, dtype):
            logits = model(xt)
        loss = F.cross_entropy(logits.float(), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    training = best_rate(train_step, train_batch, repeats, sync)
    return extraction, training


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["tiny", "base"])
    parser.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--devices", nargs="+", default=["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    parser.add_argument("--batch", type=int, default=4, help="extraction batch (CPU); GPUs use 16x")
    parser.add_argument("--train-batch", type=int, default=2, help="training batch (CPU); GPUs use 16x")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    print(
        f"# best of {args.repeats}; torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, {torch.get_num_threads()} threads"
    )
    print("| size | device | dtype | extraction clips/s (990 frames) | train clips/s (1000 frames) |")
    print("|---|---|---|---|---|")
    for device in args.devices:
        scale = 16 if device == "cuda" else 1
        for size in args.sizes:
            for dtype in args.dtypes:
                extraction, training = measure(
                    size, device, dtype, args.batch * scale, args.repeats, args.train_batch * scale
                )
                name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
                print(f"| {size} | {name} | {dtype} | {extraction:.2f} | {training:.2f} |", flush=True)


if __name__ == "__main__":
    main()
