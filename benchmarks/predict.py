"""``uavm predict`` on one 10 s clip: the whole command and its split (import / load / decode / encode / model).

    python benchmarks/predict.py                 # paper sizes: ConvNeXt-Base encoders, paper UAVM
    python benchmarks/predict.py --size tiny     # smaller encoders

The released weights cannot be downloaded here, so the model and both encoders are random-weight
files of the released sizes saved to a temporary folder (``uavm.save_model``, ``AudioEncoder.save``,
``VisualEncoder.save``): loading and compute are those of the real files. The clip is VGGSound-like:
10 s, 640x360 at 25 fps h264, 44.1 kHz stereo AAC, made with the FFmpeg CLI.

Two fresh processes per repeat: the command exactly as a user runs it
(``uavm predict clip.mp4 --model m.safetensors --audio-encoder a.safetensors --visual-encoder
v.safetensors``), wall clock from outside; and the same steps timed from inside (interpreter start,
imports, ``Predictor`` construction = loading, then the prediction's own decode / encode / model
split). The overhead is the command's wall time minus decode, encode and model math.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from clips import vggsound_like_clip  # benchmarks/clips.py, beside this script

# the timed child: the steps of `uavm predict` with a clock around each
CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from uavm.predict import Predictor
t1 = time.perf_counter()
clip, model, a, v, bf16, device = sys.argv[1:7]
predictor = Predictor(model, audio_encoder=a, visual_encoder=v, device=device, bf16=bf16 == "1" or None)
t2 = time.perf_counter()
result = next(predictor.predict_many([clip]))
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "predict": t3 - t2, **result.seconds}))
"""


def make_files(work: Path, size: str, seconds: float, small_model: bool = False) -> dict[str, Path]:
    """A clip, a paper UAVM model file (or a small one) and two encoder files, random weights."""
    import uavm
    from uavm.features.audio_encoder import AudioEncoder
    from uavm.features.visual_encoder import VisualEncoder

    files = {k: work / n for k, n in (("clip", "clip.mp4"), ("model", "model.safetensors"))}
    files |= {"audio": work / "audio.safetensors", "visual": work / "visual.safetensors"}
    vggsound_like_clip(files["clip"], seconds)
    audio, visual = AudioEncoder(size), VisualEncoder(size)
    dims = {"a_input_dim": audio.feature_dim, "v_input_dim": visual.feature_dim}
    if small_model:  # dry runs: a 2-layer 64-d model
        model = uavm.create_model("unified", embed_dim=64, num_heads=2, depth_i=1, depth_s=1, num_classes=309, **dims)
    else:
        model = uavm.create_model("uavm_vggsound", **dims)
    uavm.save_model(
        model,
        files["model"],
        info={"audio_encoder": f"random:{size}:0", "visual_encoder": f"random:{size}:1", "labels": "vggsound"},
    )
    audio.save(files["audio"])
    visual.save(files["visual"])
    return files


def run_once(files: dict[str, Path], bf16: bool, device: str) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    flag = ["--bf16"] if bf16 else []
    cmd = [sys.executable, "-m", "uavm", "predict", str(files["clip"]), "--model", str(files["model"])]
    cmd += ["--audio-encoder", str(files["audio"]), "--visual-encoder", str(files["visual"]), "--device", device]
    start = time.perf_counter()
    done = subprocess.run([*cmd, *flag], capture_output=True, text=True, env=env)
    command = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(done.stderr)
    start = time.perf_counter()
    args = [str(files[k]) for k in ("clip", "model", "audio", "visual")] + ["1" if bf16 else "0", device]
    child = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, env=env)
    inside = time.perf_counter() - start
    if child.returncode:
        raise SystemExit(child.stderr)
    split = json.loads(child.stdout.strip().splitlines()[-1])
    split["start_and_exit"] = inside - split["import"] - split["load"] - split["predict"]
    math = split["decode_and_fbank"] + split["features"] + split["model"]
    return {"command": command, **split, "overhead": inside - math}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="base", help="ConvNeXt size of both encoders")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--bf16", action="store_true", help="encoders in bfloat16 autocast (uavm predict --bf16)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N (uavm predict --device)")
    parser.add_argument("--small-model", action="store_true", help="a 2-layer 64-d model instead of the paper's")
    parser.add_argument("--json", dest="json_out", default=None, help="also write the rows here")
    args = parser.parse_args()

    import torch

    with tempfile.TemporaryDirectory(prefix="uavm-bench-") as tmp:
        files = make_files(Path(tmp), args.size, args.seconds, args.small_model)
        load_before = os.getloadavg()[0]
        runs = [run_once(files, args.bf16, args.device) for _ in range(args.repeats)]
    best = min(runs, key=lambda r: r["overhead"])
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
        f"load average {load_before:.1f} before / {os.getloadavg()[0]:.1f} after; torch {torch.__version__}"
    )
    print(
        f"clip: {args.seconds:g} s, 640x360 25 fps h264 + 44.1 kHz stereo aac; ConvNeXt-{args.size} encoders, "
        f"{'small' if args.small_model else 'paper'} UAVM (random-weight files), {args.device}, "
        f"encoders in {'bf16' if args.bf16 or args.device.startswith('cuda') else 'fp32'}; "
        f"best of {args.repeats} by overhead\n"
    )
    print(
        "| `uavm predict` command s | overhead s | interpreter start + exit s | imports s | load s "
        "| decode + fbank s | encode (audio + visual nets) s | model s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    keys = ("command", "overhead", "start_and_exit", "import", "load", "decode_and_fbank", "features", "model")
    print("| " + " | ".join(f"{best[k]:.2f}" for k in keys) + " |")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(runs, indent=2))


if __name__ == "__main__":
    main()
