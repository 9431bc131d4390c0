"""Kaldi fbank throughput on 10 s clips: ours (torch) vs kaldi-native-fbank (C++), clips/s.

    python benchmarks/fbank.py                 # CPU; CUDA too when a GPU is present
    python benchmarks/fbank.py --clips 64 --repeats 5

kaldi-native-fbank refuses 128 bins at 16 kHz (one mel filter is empty), so the
comparison is at 80 bins; ours is also timed at 128 bins (the UAVM setting).
knf is timed twice: compute only (accept_waveform + input_finished) and with the
frames read back into a numpy array (what a caller needs). Every figure is the
best of ``--repeats`` runs, which filters out other jobs on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

import numpy as np
import torch

from uavm.features.filterbank import fbank, normalized_fbank

SR = 16000


def best_rate(work: Callable[[], None], clips: int, repeats: int, sync: Callable[[], None] = lambda: None) -> float:
    """Clips per second of the fastest of ``repeats`` runs of ``work`` (which handles ``clips`` clips)."""
    work()
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        sync()
        best = min(best, time.perf_counter() - start)
    return clips / best


def knf_rates(waves: np.ndarray, repeats: int) -> tuple[float, float]:
    """(compute-only, with read-back) clips/s of kaldi-native-fbank at 80 bins, UAVM settings."""
    import kaldi_native_fbank as knf

    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    opts.frame_opts.window_type = "hanning"
    opts.mel_opts.num_bins = 80
    opts.htk_compat = True

    def run(read_back: bool) -> None:
        for x in waves:
            online = knf.OnlineFbank(opts)
            online.accept_waveform(SR, x)
            online.input_finished()
            if read_back:
                np.stack([online.get_frame(i) for i in range(online.num_frames_ready)])

    return (best_rate(lambda: run(False), len(waves), repeats), best_rate(lambda: run(True), len(waves), repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=32, help="10 s clips per timed run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, torch.get_num_threads()])
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    waves = (rng.standard_normal((args.clips, 10 * SR)) * 0.1).astype(np.float32)
    batch = torch.from_numpy(waves)
    print(
        f"# {args.clips} clips of 10 s, best of {args.repeats}; torch {torch.__version__}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    )
    print("| implementation | device | threads | bins | clips/s |")
    print("|---|---|---|---|---|")
    knf_compute, knf_read = knf_rates(waves, args.repeats)
    print(f"| kaldi-native-fbank, compute only | cpu | 1 | 80 | {knf_compute:.0f} |")
    print(f"| kaldi-native-fbank, frames read back | cpu | 1 | 80 | {knf_read:.0f} |", flush=True)

    default_threads = torch.get_num_threads()
    for threads in dict.fromkeys(args.threads):
        torch.set_num_threads(threads)
        for bins in (80, 128):
            one = best_rate(lambda bins=bins: [fbank(x, num_mel_bins=bins) for x in batch], args.clips, args.repeats)
            many = best_rate(lambda bins=bins: fbank(batch, num_mel_bins=bins), args.clips, args.repeats)
            print(f"| uavm fbank, one clip per call | cpu | {threads} | {bins} | {one:.0f} |")
            print(f"| uavm fbank, batch of {args.clips} | cpu | {threads} | {bins} | {many:.0f} |", flush=True)
        full = best_rate(lambda: normalized_fbank(batch, 1000), args.clips, args.repeats)
        print(f"| uavm normalized_fbank (encoder input), batch | cpu | {threads} | 128 | {full:.0f} |", flush=True)
    torch.set_num_threads(default_threads)

    if torch.cuda.is_available():
        gpu = batch.cuda()
        for bins in (80, 128):
            rate = best_rate(
                lambda bins=bins: fbank(gpu, num_mel_bins=bins), args.clips, args.repeats, torch.cuda.synchronize
            )
            print(f"| uavm fbank, batch of {args.clips} | {torch.cuda.get_device_name()} | - | {bins} | {rate:.0f} |")
    else:
        print("\nNo CUDA device: GPU not measured.")


if __name__ == "__main__":
    main()
