"""Generated clips of three scenes that differ in picture and sound, and a model trained on them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import torch

import uavm
from helpers.tiny_models import AUDIO, SHORT_SIDE, VISUAL, tiny_model
from uavm.extraction import ExtractOptions, extract, read_inputs
from uavm.feature_spec import FeatureSpec
from uavm.store import FeatureStore

SCENES = [  # (picture, sound): three scenes that differ in both
    ("color=c=red:size=64x48:rate=10:duration={d}", "sine=frequency=300:duration={d}"),
    ("testsrc2=size=64x48:rate=10:duration={d}", "anoisesrc=color=white:amplitude=0.5:seed=1:duration={d}"),
    ("color=c=blue:size=64x48:rate=10:duration={d},drawgrid=w=8:h=8:t=2:c=white", "sine=frequency=3000:duration={d}"),
]
NAMES = ["red hum", "pattern noise", "blue whistle"]


def scene_clip(ffmpeg: str, path: Path, scenes: list[int], seconds: float = 10) -> None:
    """Scenes ``scenes`` one after the other, ``seconds`` each, as one h264 + aac file."""
    cmd = [ffmpeg, "-v", "error", "-y"]
    for k in scenes:
        picture, sound = SCENES[k]
        cmd += ["-f", "lavfi", "-i", picture.format(d=seconds), "-f", "lavfi", "-i", sound.format(d=seconds)]
    links = "".join(f"[{2 * i}:v][{2 * i + 1}:a]" for i in range(len(scenes)))
    cmd += [
        "-filter_complex",
        f"{links}concat=n={len(scenes)}:v=1:a=1[v][a]",
        "-map",
        "[v]",
        "-map",
        "[a]",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-ar",
        "16000",
        str(path),
    ]
    subprocess.run(cmd, check=True, capture_output=True)


def train_scene_model(train_folder: Path, store_dir: Path, path: Path) -> Path:
    """A unified model trained on the features ``uavm extract`` makes of ``scene<k>.mp4``, saved at ``path``.

    A few Adam steps of the real model on both modalities, with random time rolls so no position is special.
    """
    with torch.random.fork_rng():
        extract(
            read_inputs(train_folder),
            store_dir,
            FeatureSpec(AUDIO, VISUAL, short_side=SHORT_SIDE),
            ExtractOptions(workers=0, progress=False),
        )
    store = FeatureStore(store_dir)
    order = [int(r.clip_id[-1]) for r in store.records]
    rows = np.arange(len(order))
    x = {
        m: torch.nn.functional.normalize(torch.from_numpy(store.read(rows, name).astype(np.float32)), dim=-1)
        for m, name in (("a", "audio"), ("v", "visual"))
    }
    y = torch.tensor(order)
    model = tiny_model(num_classes=3)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(60):
        shift = int(torch.randint(0, 30, ()))
        loss = sum(torch.nn.functional.cross_entropy(model(x[m].roll(shift, dims=1), m), y) for m in "av")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    uavm.save_model(
        model,
        path,
        info={
            "audio_encoder": AUDIO,
            "visual_encoder": VISUAL,
            "short_side": SHORT_SIDE,
            "label_mids": [f"s{k}" for k in range(3)],
            "label_names": NAMES,
            "feat_norm": True,
            "loss": "ce",
        },
    )
    return path
