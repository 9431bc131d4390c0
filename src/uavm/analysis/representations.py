"""Time-pooled representations of every layer for audio and visual inputs.

For each clip and each layer (0 = embedded input, k = k-th block, ``num_layers`` = logits;
the model's layer numbering) the layer's output is averaged over time, for the clip's audio features and
for its visual features. Data are streamed batch by batch, so memory holds only the
pooled vectors (or nothing, with an on-disk cache: the results are then written into
memory-mapped ``.npy`` files, one per layer and modality, and read back lazily).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..atomic import write_json_atomic
from ..device import resolve_device
from ..progress import progress_bar

Batch = tuple[Any, Any, Any]
CACHE_META = "meta.json"


@dataclass
class LayerRepresentations:
    """Pooled representations ``[n_clips, dim_layer]`` per layer, paired by row across modalities."""

    layers: list[int]
    audio: dict[int, np.ndarray]
    visual: dict[int, np.ndarray]
    labels: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.audio[self.layers[0]]) if self.layers else 0

    def subset(self, clips: np.ndarray) -> LayerRepresentations:
        """The same layers for the clips ``clips`` only (loaded into memory)."""
        labels = None if self.labels is None else np.asarray(self.labels[clips])
        return LayerRepresentations(
            list(self.layers),
            {k: np.asarray(a[clips]) for k, a in self.audio.items()},
            {k: np.asarray(v[clips]) for k, v in self.visual.items()},
            labels,
        )


class ArrayBatches:
    """Batches ``(audio, visual, labels)`` over in-memory arrays, with a length for progress bars."""

    def __init__(self, audio: Any, visual: Any, labels: Any = None, batch_size: int = 64):
        if len(audio) != len(visual):
            raise ValueError(f"audio and visual must pair up: {len(audio)} != {len(visual)} clips")
        self.audio, self.visual, self.labels, self.batch_size = audio, visual, labels, batch_size

    def __len__(self) -> int:
        return -(-len(self.audio) // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        for start in range(0, len(self.audio), self.batch_size):
            end = start + self.batch_size
            labels = None if self.labels is None else self.labels[start:end]
            yield self.audio[start:end], self.visual[start:end], labels


def model_arch(model: nn.Module) -> str:
    """The model's architecture name (``config.arch``)."""
    return model.config.arch


def representation_layers(model: nn.Module) -> list[int]:
    """Layers with one representation per modality: all of them, or 0..depth_i for cross-attention."""
    config = model.config
    if model_arch(model) == "cross_attention":
        return list(range(config.depth_i + 1))
    return list(range(config.num_layers + 1))


def shared_layer_span(model: nn.Module) -> tuple[int, int] | None:
    """(first, last) block index of the upper stack when it is shared by both modalities, else None."""
    config = model.config
    if model_arch(model) != "unified" or not config.depth_s:
        return None
    return config.depth_i + 1, config.depth_i + config.depth_s


def to_tensor(x: Any, device: torch.device) -> torch.Tensor:
    """Features as a float32 tensor on ``device`` (arrays and float16 accepted)."""
    if not torch.is_tensor(x):
        x = torch.from_numpy(np.array(x, dtype=np.float32))
    return x.to(device=device, dtype=torch.float32)


def _pooled_layers(model: nn.Module, x: torch.Tensor, modality: str, layers: Sequence[int]) -> list[torch.Tensor]:
    """Time-mean of each requested layer's output ``[B, D]`` (logits stay as they are)."""
    if hasattr(model, "layer_outputs") and model_arch(model) != "cross_attention":
        outputs = model.layer_outputs(x, modality)
        selected = [outputs[layer] for layer in layers]
    else:
        selected = [model.layer_output(x, modality, layer) for layer in layers]
    return [o.mean(dim=1) if o.dim() == 3 else o for o in selected]


class _Sink:
    """Where pooled vectors go: growing lists, or memory-mapped .npy files in a cache folder."""

    def __init__(self, n_clips: int | None, cache_dir: Path | None, dtype: np.dtype):
        self.n_clips, self.cache_dir, self.dtype = n_clips, cache_dir, np.dtype(dtype)
        self.arrays: dict[str, Any] = {}
        self.filled = 0

    def _allocate(self, name: str, row_shape: tuple[int, ...], dtype: np.dtype) -> Any:
        if self.n_clips is None:
            return []
        shape = (self.n_clips, *row_shape)
        if self.cache_dir is None:
            return np.empty(shape, dtype)
        return np.lib.format.open_memmap(self._tmp(name), "w+", dtype, shape)

    def _tmp(self, name: str) -> Path:
        return self.cache_dir / f".{name}.tmp.npy"

    def add(self, name: str, rows: np.ndarray, dtype: np.dtype | None = None) -> None:
        if name not in self.arrays:
            self.arrays[name] = self._allocate(name, rows.shape[1:], dtype or self.dtype)
        target = self.arrays[name]
        if isinstance(target, list):
            target.append(rows.astype(dtype or self.dtype))
        else:
            if self.filled + len(rows) > len(target):
                raise ValueError(f"the data yielded more than the announced {self.n_clips} clips")
            target[self.filled : self.filled + len(rows)] = rows

    def finish(self) -> dict[str, np.ndarray]:
        """Concatenated arrays; with a cache folder, the files moved into place and memory-mapped."""
        out = {}
        for name in list(self.arrays):
            target = self.arrays.pop(name)
            if isinstance(target, list):
                target = np.concatenate(target)
            elif len(target) != self.filled:
                raise ValueError(f"the data yielded {self.filled} clips, {self.n_clips} were announced")
            if self.cache_dir is not None:
                dest = self.cache_dir / f"{name}.npy"
                if isinstance(target, np.memmap):
                    target.flush()
                else:
                    np.save(self._tmp(name), target)
                del target
                os.replace(self._tmp(name), dest)
                target = np.load(dest, mmap_mode="r")
            out[name] = target
        return out


def compute_representations(
    model: nn.Module,
    batches: Iterable[Batch],
    layers: Sequence[int] | None = None,
    device: str | torch.device | None = None,
    n_clips: int | None = None,
    cache_dir: str | Path | None = None,
    cache_key: str = "",
    dtype: Any = np.float32,
    progress: bool = True,
) -> LayerRepresentations:
    """Pooled audio and visual representations of ``layers`` (default: all) over ``batches``.

    ``batches`` yields ``(audio [B,T,Da], visual [B,T,Dv], labels [B,C] or None)``.
    ``n_clips``, when known, lets results be preallocated (and, with ``cache_dir``,
    written to disk as they come instead of held in memory); a finished cache whose
    ``meta.json`` matches ``cache_key`` and the layers is reused instead of recomputing.
    """
    layers = list(layers) if layers is not None else representation_layers(model)
    available = representation_layers(model)
    if bad := [k for k in layers if k not in available]:
        raise ValueError(f"layers {bad} have no per-modality representation; available: {available}")
    cache = Path(cache_dir) if cache_dir is not None else None
    if cache is not None:
        cached = load_representations(cache, cache_key, layers)
        if cached is not None:
            return cached
        cache.mkdir(parents=True, exist_ok=True)
        (cache / CACHE_META).unlink(missing_ok=True)
    device = resolve_device(device)
    model = model.to(device).eval()
    sink = _Sink(n_clips, cache, dtype)
    has_labels = True
    total = len(batches) if hasattr(batches, "__len__") else None
    with torch.inference_mode():
        for audio, visual, labels in progress_bar(
            batches, total=total, desc="representations", unit="batch", enabled=progress
        ):
            for modality, x in (("a", audio), ("v", visual)):
                pooled = _pooled_layers(model, to_tensor(x, device), modality, layers)
                for layer, rows in zip(layers, pooled):
                    sink.add(f"{modality}_{layer}", rows.float().cpu().numpy())
            has_labels = has_labels and labels is not None
            if has_labels:
                sink.add("labels", np.asarray(labels, np.float32), np.dtype(np.float32))
            sink.filled += len(audio)
    if sink.filled == 0:
        raise ValueError("no clips to analyse: the data yielded no batches")
    arrays = sink.finish()
    reps = LayerRepresentations(
        layers,
        {k: arrays[f"a_{k}"] for k in layers},
        {k: arrays[f"v_{k}"] for k in layers},
        arrays.get("labels") if has_labels else None,
    )
    if cache is not None:
        meta = {"key": cache_key, "n_clips": len(reps), "layers": layers, "labels": has_labels}
        write_json_atomic(cache / CACHE_META, meta)
    return reps


def load_representations(
    cache_dir: str | Path, cache_key: str = "", layers: Sequence[int] | None = None
) -> LayerRepresentations | None:
    """A finished cache (memory-mapped), or None when absent, unfinished or for another key/layers."""
    cache = Path(cache_dir)
    try:
        meta = json.loads((cache / CACHE_META).read_text())
    except (OSError, ValueError):
        return None
    if meta.get("key") != cache_key or (layers is not None and not set(layers) <= set(meta["layers"])):
        return None
    layers = list(layers) if layers is not None else meta["layers"]
    try:
        audio = {k: np.load(cache / f"a_{k}.npy", mmap_mode="r") for k in layers}
        visual = {k: np.load(cache / f"v_{k}.npy", mmap_mode="r") for k in layers}
        labels = np.load(cache / "labels.npy", mmap_mode="r") if meta.get("labels") else None
    except (OSError, ValueError):
        return None
    return LayerRepresentations(layers, audio, visual, labels)
