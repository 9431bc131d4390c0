"""Loading paper-size weights: built on the meta device and assigned vs randomly initialised then overwritten.

    python benchmarks/load.py                 # writes nothing; prints a Markdown table
    python benchmarks/load.py --repeats 5

Each network is saved once (safetensors, random weights) into a temporary folder,
then loaded as uavm loads it (``load_model``, ``VisualEncoder.from_checkpoint``,
``AudioEncoder.from_checkpoint``: meta device + ``load_state_dict(assign=True)``)
and as it loaded before (build with a random init, then ``load_state_dict``).
Best of ``--repeats``, which filters out other jobs on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from uavm.features.audio_encoder import AudioEncoder, canonical_state_dict
from uavm.features.visual_encoder import VisualEncoder
from uavm.models import build_model, load_model, save_model
from uavm.registry import REGISTRY
from uavm.weights import read_weights


def best(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(min(4, os.cpu_count() or 1))
    config = REGISTRY["uavm_vggsound"].config
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        model_file = save_model(build_model(config), Path(tmp) / "uavm.safetensors")
        visual_file = VisualEncoder("base").save(Path(tmp) / "visual.safetensors")
        audio_file = AudioEncoder("base", num_classes=309, dataset="vggsound").save(Path(tmp) / "audio.safetensors")

        def model_before() -> None:
            model = build_model(config)
            model.load_state_dict(read_weights(model_file)[0])

        def visual_before() -> None:
            encoder = VisualEncoder("base")
            encoder.load_state_dict(read_weights(visual_file)[0])

        def audio_before() -> None:
            encoder = AudioEncoder("base", num_classes=309, dataset="vggsound")
            encoder.load_state_dict(canonical_state_dict(read_weights(audio_file)[0]))

        cases = [
            ("UAVM uavm_vggsound (117.5 M)", lambda: load_model(model_file), model_before),
            ("visual encoder ConvNeXt-base", lambda: VisualEncoder.from_checkpoint(visual_file), visual_before),
            ("audio encoder ConvNeXt-base", lambda: AudioEncoder.from_checkpoint(audio_file), audio_before),
        ]
        for name, meta, before in cases:
            best(meta, 1)  # warm the page cache and imports
            t_meta, t_before = best(meta, args.repeats), best(before, args.repeats)
            rows.append((name, t_before, t_meta))
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"best of {args.repeats}\n"
    )
    print("| network | random init + load (s) | meta + assign (s) | speed-up |")
    print("|---|---|---|---|")
    for name, before, meta in rows:
        print(f"| {name} | {before:.2f} | {meta:.2f} | {before / meta:.1f}x |")


if __name__ == "__main__":
    main()
