"""A small audio-visual event dataset written as real mp4 files (h264 + aac), from a seed.

Each class is a (colour, tone) pair. The picture shows a square of the class colour moving
over a noisy background; the sound is a tone of the class pitch in noise. Colours are shared
by classes (0,1), (2,3), ...; tones by classes (7,0), (1,2), (3,4), ...: each modality alone
can tell a class only from one neighbour, never from both, and the two modalities confuse
different pairs, so fusing them identifies every class. Chance is 1/8, a perfect single
modality 1/2, a perfect fusion 1.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from tqdm.auto import tqdm

from ..atomic import atomic_path

COLOURS = {"red": (220, 40, 40), "green": (40, 190, 60), "blue": (40, 80, 230), "yellow": (230, 210, 40)}
TONES = {"low": 330.0, "mid": 660.0, "high": 1320.0, "top": 2640.0}
SPLITS = {"train": 0.6, "val": 0.2, "test": 0.2}


@dataclass(frozen=True)
class DemoClass:
    index: int
    colour: str
    tone: str

    @property
    def mid(self) -> str:
        return f"demo_{self.index}"

    @property
    def name(self) -> str:
        return f"{self.colour} square, {self.tone} tone"


def demo_classes(n_classes: int = 8) -> list[DemoClass]:
    """The classes: colour from ``c // 2``, tone from ``((c + 1) % n) // 2`` (different pairings)."""
    if n_classes % 2 or not 4 <= n_classes <= 2 * min(len(COLOURS), len(TONES)):
        raise ValueError(f"n_classes must be even and in 4..{2 * min(len(COLOURS), len(TONES))}")
    colours, tones = list(COLOURS), list(TONES)
    return [DemoClass(c, colours[c // 2], tones[((c + 1) % n_classes) // 2]) for c in range(n_classes)]


def _frames(rng: np.random.Generator, colour: tuple[int, int, int], n: int, width: int, height: int) -> np.ndarray:
    side = int(rng.integers(height // 4, height // 2))
    x0, y0 = rng.integers(0, width - side), rng.integers(0, height - side)
    vx, vy = rng.uniform(-2, 2, size=2)
    base = rng.integers(60, 160, size=3)
    video = np.empty((n, height, width, 3), np.uint8)
    for t in range(n):
        frame = np.clip(base + rng.normal(0, 25, (height, width, 3)), 0, 255)
        x = int(np.clip(x0 + vx * t, 0, width - side))
        y = int(np.clip(y0 + vy * t, 0, height - side))
        frame[y:y + side, x:x + side] = np.clip(np.array(colour) + rng.normal(0, 12, 3), 0, 255)
        video[t] = frame
    return video


def _audio(rng: np.random.Generator, pitch: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    pitch = pitch * rng.uniform(0.97, 1.03)
    onset, length = rng.uniform(0, seconds * 0.4), rng.uniform(seconds * 0.4, seconds * 0.6)
    envelope = ((t >= onset) & (t < onset + length)).astype(np.float64)
    tone = np.sin(2 * np.pi * pitch * t) + 0.3 * np.sin(4 * np.pi * pitch * t)
    signal = rng.uniform(0.2, 0.45) * envelope * tone + rng.uniform(0.02, 0.08) * rng.standard_normal(t.size)
    return np.clip(signal, -1, 1).astype(np.float32)


def write_clip(path: Path, video: np.ndarray, audio: np.ndarray | None, fps: int, rate: int) -> None:
    """Write ``video`` (uint8 [T, H, W, 3]) and mono ``audio`` (float32) as an h264 + aac mp4, atomically."""
    with atomic_path(path) as tmp, av.open(str(tmp), mode="w", format="mp4") as container:
        vstream = container.add_stream("libx264", rate=fps)
        vstream.height, vstream.width = video.shape[1:3]
        vstream.pix_fmt = "yuv420p"
        vstream.options = {"crf": "23", "preset": "veryfast"}
        astream = None
        if audio is not None:
            astream = container.add_stream("aac", rate=rate)
            astream.layout = "mono"
        for frame in video:
            container.mux(vstream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(vstream.encode())
        if astream is not None:
            chunk = 1024
            for start in range(0, audio.size, chunk):
                block = audio[start:start + chunk][None, :]
                frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="mono")
                frame.sample_rate = rate
                frame.pts = start
                frame.time_base = Fraction(1, rate)
                container.mux(astream.encode(frame))
            container.mux(astream.encode())


def make_demo_dataset(out: str | Path, n_classes: int = 8, clips_per_class: int = 20, seconds: float = 4.0,
                      width: int = 96, height: int = 72, fps: int = 12, sample_rate: int = 16000,
                      seed: int = 0, progress: bool = True) -> dict[str, Path]:
    """Write the dataset under ``out``: ``clips/*.mp4``, ``labels.csv`` and one manifest per split.

    Manifests are CSV files with columns ``path,id,labels`` (label mids). Returns
    ``{"labels": path, "train": path, "val": path, "test": path}``. Existing clips are kept
    (the same seed writes the same files), so a re-run only fills in what is missing.
    """
    out = Path(out)
    (out / "clips").mkdir(parents=True, exist_ok=True)
    classes = demo_classes(n_classes)
    with atomic_path(out / "labels.csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["index", "mid", "display_name"])
        writer.writerows((c.index, c.mid, c.name) for c in classes)
    rows: dict[str, list[tuple[str, str, str]]] = {split: [] for split in SPLITS}
    jobs = [(c, i) for c in classes for i in range(clips_per_class)]
    for c, i in tqdm(jobs, desc="demo clips", disable=not progress):
        rng = np.random.default_rng([seed, c.index, i])
        clip_id = f"{c.mid}_{i:03d}"
        path = out / "clips" / f"{clip_id}.mp4"
        if not path.exists():
            video = _frames(rng, COLOURS[c.colour], int(seconds * fps), width, height)
            write_clip(path, video, _audio(rng, TONES[c.tone], seconds, sample_rate), fps, sample_rate)
        fraction = i / clips_per_class
        split = "train" if fraction < SPLITS["train"] else "val" if fraction < SPLITS["train"] + SPLITS["val"] else "test"
        rows[split].append((str(path.relative_to(out)), clip_id, c.mid))
    paths: dict[str, Path] = {"labels": out / "labels.csv"}
    for split, split_rows in rows.items():
        paths[split] = out / f"{split}.csv"
        with atomic_path(paths[split]) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["path", "id", "labels"])
            writer.writerows(split_rows)
    return paths
