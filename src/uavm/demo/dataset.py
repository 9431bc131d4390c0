"""A small audio-visual event dataset written as real mp4 files (h264 + aac), from a seed.

Each class is a (colour, sound) pair. The picture is a noisy, unevenly lit field of the class
colour with a grey square moving over it; the sound is one of four textures (a whistle, a
buzz, a hiss, a click train) in background noise. Textures, not pitches, tell the sounds
apart: an audio encoder averages over frequency, so with untrained (random) weights a pitch
shift is nearly invisible while a texture is not. Colours are shared by classes (0,1), (2,3),
...; sounds by classes (7,0), (1,2), (3,4), ...: each modality alone
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

from ..atomic import atomic_path
from ..progress import progress_bar

COLOURS = {"red": (220, 40, 40), "green": (40, 190, 60), "blue": (40, 80, 230), "yellow": (230, 210, 40)}
SOUNDS = ("whistle", "buzz", "hiss", "clicks")
SPLITS = {"train": 0.6, "val": 0.2, "test": 0.2}


@dataclass(frozen=True)
class DemoClass:
    index: int
    colour: str
    sound: str

    @property
    def mid(self) -> str:
        return f"demo_{self.index}"

    @property
    def name(self) -> str:
        return f"{self.colour} field, {self.sound}"


def demo_classes(n_classes: int = 8) -> list[DemoClass]:
    """The classes: colour from ``c // 2``, sound from ``((c + 1) % n) // 2`` (different pairings)."""
    if n_classes % 2 or not 4 <= n_classes <= 2 * min(len(COLOURS), len(SOUNDS)):
        raise ValueError(f"n_classes must be even and in 4..{2 * min(len(COLOURS), len(SOUNDS))}")
    colours = list(COLOURS)
    return [DemoClass(c, colours[c // 2], SOUNDS[((c + 1) % n_classes) // 2]) for c in range(n_classes)]


def _frames(rng: np.random.Generator, colour: tuple[int, int, int], n: int, width: int, height: int) -> np.ndarray:
    side = int(rng.integers(height // 4, height // 2))
    x0, y0 = rng.integers(0, width - side), rng.integers(0, height - side)
    vx, vy = rng.uniform(-2, 2, size=2)
    grey = rng.integers(60, 200)
    # a brightness ramp in a random direction: the colour varies over the frame and between clips
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    angle = rng.uniform(0, 2 * np.pi)
    light = 0.75 + 0.35 * (np.cos(angle) * xx + np.sin(angle) * yy)[..., None]
    field = np.array(colour) * rng.uniform(0.8, 1.1) * light
    video = np.empty((n, height, width, 3), np.uint8)
    for t in range(n):
        frame = np.clip(field + rng.normal(0, 20, (height, width, 3)), 0, 255)
        x = int(np.clip(x0 + vx * t, 0, width - side))
        y = int(np.clip(y0 + vy * t, 0, height - side))
        frame[y : y + side, x : x + side] = grey
        video[t] = frame
    return video


def _audio(rng: np.random.Generator, sound: str, seconds: float, rate: int) -> np.ndarray:
    n = int(seconds * rate)
    t = np.arange(n) / rate
    if sound == "whistle":  # a pure tone with a slow vibrato
        pitch = rng.uniform(800, 1600)
        signal = np.sin(2 * np.pi * pitch * t + 3 * np.sin(2 * np.pi * rng.uniform(3, 6) * t))
    elif sound == "buzz":  # a sawtooth: a dense stack of harmonics
        f0 = rng.uniform(90, 180)
        signal = 2 * ((f0 * t) % 1.0) - 1
    elif sound == "hiss":  # broadband noise
        signal = rng.uniform(-1, 1, n)
    else:  # clicks: short decaying bursts at a regular rate
        period = int(rate / rng.uniform(6, 12))
        burst = np.exp(-np.arange(200) / 30) * rng.uniform(-1, 1, 200)
        signal = np.zeros(n)
        for start in range(int(rng.integers(0, period)), n - 200, period):
            signal[start : start + 200] += burst
    onset = rng.uniform(0, seconds * 0.15)
    envelope = ((t >= onset) & (t < onset + rng.uniform(0.7, 0.85) * seconds)).astype(np.float64)
    mixed = rng.uniform(0.2, 0.4) * envelope * signal + rng.uniform(0.0002, 0.0008) * rng.standard_normal(n)
    return np.clip(mixed, -1, 1).astype(np.float32)


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
                block = audio[start : start + chunk][None, :]
                frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="mono")
                frame.sample_rate = rate
                frame.pts = start
                frame.time_base = Fraction(1, rate)
                container.mux(astream.encode(frame))
            container.mux(astream.encode())


def make_demo_dataset(
    out: str | Path,
    n_classes: int = 8,
    clips_per_class: int = 20,
    seconds: float = 4.0,
    width: int = 96,
    height: int = 72,
    fps: int = 12,
    sample_rate: int = 16000,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Path]:
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
    for c, i in progress_bar(jobs, desc="demo clips", unit="clip", enabled=progress):
        rng = np.random.default_rng([seed, c.index, i])
        clip_id = f"{c.mid}_{i:03d}"
        path = out / "clips" / f"{clip_id}.mp4"
        if not path.exists():
            video = _frames(rng, COLOURS[c.colour], int(seconds * fps), width, height)
            write_clip(path, video, _audio(rng, c.sound, seconds, sample_rate), fps, sample_rate)
        fraction = i / clips_per_class
        split = (
            "train" if fraction < SPLITS["train"] else "val" if fraction < SPLITS["train"] + SPLITS["val"] else "test"
        )
        rows[split].append((str(path.relative_to(out)), clip_id, c.mid))
    paths: dict[str, Path] = {"labels": out / "labels.csv"}
    for split, split_rows in rows.items():
        paths[split] = out / f"{split}.csv"
        with atomic_path(paths[split]) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["path", "id", "labels"])
            writer.writerows(split_rows)
    return paths
