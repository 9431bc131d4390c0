"""Synthetic audio-visual feature data in the reference layout, for tests, demos and benchmarks.

Class ``c`` of ``num_classes`` is the pair (``c // 2``, ``c % 2``): the audio
features reveal only ``c // 2`` and the visual features only ``c % 2``, each as a
class-group prototype plus Gaussian noise at every time step. Audio alone can at
best tell two classes apart from each other, visual alone four; together they
determine the class — so fusion has something to add.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..atomic import write_text_atomic
from .datafile import DataEntry, write_datafile


def synthetic_clips(
    n: int,
    *,
    num_classes: int = 8,
    dim: int = 16,
    seq_len: int = 8,
    noise: float = 1.0,
    seed: int = 0,
    prototype_seed: int = 1234,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(classes [n], audio [n, T, D] float32, visual [n, T, D] float16)``; prototypes depend only on
    ``prototype_seed`` so that splits drawn with different ``seed`` share them."""
    if num_classes % 2:
        raise ValueError("num_classes must be even")
    protos = np.random.default_rng(prototype_seed)
    a_proto = protos.standard_normal((num_classes // 2, dim))
    v_proto = protos.standard_normal((2, dim))
    rng = np.random.default_rng(seed)
    classes = rng.integers(0, num_classes, size=n)
    audio = a_proto[classes // 2][:, None, :] + noise * rng.standard_normal((n, seq_len, dim))
    visual = v_proto[classes % 2][:, None, :] + noise * rng.standard_normal((n, seq_len, dim))
    return classes, audio.astype(np.float32), visual.astype(np.float16)


def write_label_csv(path: str | Path, num_classes: int) -> Path:
    """A label CSV with mids ``syn_<i>`` and names ``class <i>``."""
    rows = ["index,mid,display_name"] + [f"{i},syn_{i},class {i}" for i in range(num_classes)]
    write_text_atomic(path, "\n".join(rows) + "\n")
    return Path(path)


def write_synthetic(
    folder: str | Path,
    sizes: dict[str, int],
    *,
    num_classes: int = 8,
    dim: int = 16,
    seq_len: int = 8,
    noise: float = 1.0,
    seed: int = 0,
) -> dict[str, Path]:
    """Per-clip ``.npy`` features and one reference datafile per split, plus ``labels.csv``.

    Returns ``{"labels": csv path, <split>: datafile path}``; clip ids are ``<split>_<i>``.
    """
    folder = Path(folder)
    out = {"labels": write_label_csv(folder / "labels.csv", num_classes)}
    for k, (split, n) in enumerate(sizes.items()):
        classes, audio, visual = synthetic_clips(
            n, num_classes=num_classes, dim=dim, seq_len=seq_len, noise=noise, seed=seed * 1000 + k
        )
        entries = []
        for i in range(n):
            clip = f"{split}_{i:05d}"
            a_path, v_path = folder / "audio" / f"{clip}.npy", folder / "visual" / f"{clip}.npy"
            a_path.parent.mkdir(parents=True, exist_ok=True)
            v_path.parent.mkdir(parents=True, exist_ok=True)
            np.save(a_path, audio[i])
            np.save(v_path, visual[i])
            entries.append(DataEntry(labels=[f"syn_{classes[i]}"], afeat=str(a_path), vfeat=str(v_path)))
        out[split] = folder / f"{split}.json"
        write_datafile(out[split], entries)
    return out
