"""What the model analyses read: a model (checkpoint or registered name) and evaluation
batches ``(audio, visual, labels)`` over a feature store or a reference datafile.

The analysis functions only need re-iterable batches, so they work on any source;
this module is the thin adapter from the project's datasets to them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from ..errors import ConfigError
from .representations import Batch


def open_model(spec: str | Path, arch: str | None = None, num_heads: int | None = None) -> nn.Module:
    """A checkpoint file (reference ``.pth`` or uavm safetensors), else a registered model name
    with its released weights (downloaded once into the cache)."""
    from ..models import REGISTRY, create_model, load_model

    if not Path(spec).exists() and str(spec) in REGISTRY:
        return create_model(str(spec), pretrained=True).eval()
    return load_model(spec, arch=arch, num_heads=num_heads)


class DatasetBatches:
    """Evaluation batches of a feature dataset: float32 features (L2-normalised per time step
    when ``feat_norm``, as training and evaluation feed the model) and multi-hot labels."""

    def __init__(self, dataset, batch_size: int = 64, feat_norm: bool = True, workers: int = 0):
        from ..data.dataset import EvalBatches

        self.dataset = dataset
        self.batches = EvalBatches(dataset, batch_size, normalise=feat_norm)
        self.workers = workers

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[Batch]:
        loader = torch.utils.data.DataLoader(self.batches, batch_size=None, num_workers=self.workers)
        for batch in self.batches.checked(loader):
            yield batch["a"], batch["v"], batch["targets"]


def open_batches(
    data: str | Path,
    model: nn.Module,
    labels: str | Path | None = None,
    batch_size: int = 64,
    feat_norm: bool = True,
    workers: int = 0,
    checkpoint: str | Path = "the model",
) -> DatasetBatches:
    """Batches over ``data`` (a ``.json`` datafile or a feature-store folder) sized for ``model``; without
    ``labels``, the labels the ``checkpoint`` file records, else the packaged set of the model's class count."""
    from ..data.dataset import open_dataset
    from ..data.labels import labels_for_model, load_labels
    from ..models import read_model_info

    if labels is not None:
        vocabulary = load_labels(labels)
    else:
        info = read_model_info(checkpoint) if Path(checkpoint).is_file() else {}
        vocabulary = labels_for_model(info, model.config.num_classes, str(checkpoint))
    if len(vocabulary) != model.config.num_classes:
        raise ConfigError(
            f"label vocabulary {vocabulary.source} has {len(vocabulary)} classes, the model {model.config.num_classes}"
        )
    dataset = open_dataset(data, vocabulary, seq_len=model.config.seq_len)
    return DatasetBatches(dataset, batch_size, feat_norm, workers)


def fingerprint(*paths: str | Path, extra: str = "") -> str:
    """Identity of files (path, size, modification time) plus ``extra``: a cache key."""
    parts = []
    for path in paths:
        p = Path(path)
        stat = p.stat() if p.exists() else None
        parts.append(f"{p.resolve()}:{stat.st_size}:{stat.st_mtime_ns}" if stat else str(p))
    return "|".join(parts + [extra])
