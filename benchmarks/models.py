"""Train-step and eval throughput (samples/s) of a UAVM model: SDPA vs explicit softmax attention.

    python benchmarks/models.py                      # the paper UAVM (e1024, 4 heads, di3/ds3, T 30)
    python benchmarks/models.py --batch 16 --steps 5 --dtypes fp32 bf16

One train step = forward + cross-entropy + backward + Adam step, on one modality
(as UAVM trains). Prints a markdown table; on CUDA also runs when a GPU is present.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import time

import torch
import torch.nn.functional as F

import uavm


def _autocast(device: str, dtype: str):
    if dtype == "bf16":
        return torch.autocast(device_type=device, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def measure(model, device: str, dtype: str, batch: int, steps: int, train: bool) -> float:
    config = model.config
    x = torch.randn(batch, config.seq_len, config.a_input_dim, device=device)
    y = torch.randint(0, config.num_classes, (batch,), device=device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-5, betas=(0.95, 0.999), weight_decay=5e-7)
    model.train(train)

    def step() -> None:
        if train:
            with _autocast(device, dtype):
                loss = F.cross_entropy(model(x, "a"), y)
            optimizer.zero_grad(set_to_none=False)
            loss.backward()
            optimizer.step()
        else:
            with torch.inference_mode(), _autocast(device, dtype):
                model(x, "a")

    for _ in range(2):  # warm-up
        step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return batch * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="uavm_vggsound")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--devices", nargs="+", default=["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    args = parser.parse_args()

    print(
        f"# {args.model}, batch {args.batch}, {args.steps} timed steps; torch {torch.__version__}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {torch.get_num_threads()} threads"
    )
    print("| device | dtype | attention | train samples/s | eval samples/s |")
    print("|---|---|---|---|---|")
    for device in args.devices:
        for dtype in args.dtypes:
            for fused in (True, False):
                torch.manual_seed(0)
                model = uavm.create_model(args.model).to(device)
                model.set_fused_attention(fused)
                train = measure(model, device, dtype, args.batch, args.steps, train=True)
                evaluate = measure(model, device, dtype, args.batch, args.steps * 2, train=False)
                name = "SDPA" if fused else "explicit softmax"
                print(f"| {device} | {dtype} | {name} | {train:.1f} | {evaluate:.1f} |", flush=True)


if __name__ == "__main__":
    main()
