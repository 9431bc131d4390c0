"""Synthetic feature data and tiny training configs shared by the trainer tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from uavm.data.synthetic import write_synthetic
from uavm.train.config import build_config

TINY_MODEL = {"embed_dim": 32, "num_heads": 2, "depth_i": 1, "depth_s": 1, "seq_len": 8}


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory) -> dict[str, Path]:
    """8 classes; audio tells c // 2, visual tells c % 2 (see uavm.data.synthetic)."""
    root = tmp_path_factory.mktemp("synthetic")
    return write_synthetic(root, {"train": 256, "val": 64, "test": 96}, num_classes=8, dim=16, seq_len=8, noise=1.5)


def tiny_config(data: dict[str, Path], out_dir: Path, arch: str = "unified", **overrides):
    """A config for a seconds-long CPU run on ``synthetic_data``."""
    values = {
        "train": str(data["train"]),
        "val": str(data["val"]),
        "test": str(data["test"]),
        "labels": str(data["labels"]),
        "out_dir": str(out_dir),
        "model": {"arch": arch, **TINY_MODEL},
        "lr": 1e-3,
        "batch_size": 32,
        "epochs": 4,
        "lr_start": 3,
        "num_workers": 0,
        "progress": False,
        "eval_batch_size": 64,
    }
    model = overrides.pop("model", {})
    values["model"].update(model)
    values.update(overrides)
    return build_config(values)
