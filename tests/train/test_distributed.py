import csv
import os
import subprocess
import sys

import pytest
import torch
import yaml

import uavm
from uavm.train.distributed import DistInfo, gather_rows, shard_range
from uavm.train.trainer import train

from .conftest import tiny_config

pytestmark = pytest.mark.usefixtures("one_thread")


def test_shards_cover_everything_once():
    for n in (0, 1, 7, 10):
        spans = [shard_range(n, DistInfo(rank=r, world_size=3)) for r in range(3)]
        assert [i for a, b in spans for i in range(a, b)] == list(range(n))
    x = torch.arange(6).view(3, 2)
    assert gather_rows(x, DistInfo()) is x


def _rows(path):
    with open(path) as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_process_gloo_ddp_matches_one_process(synthetic_data, tmp_path):
    settings = {
        "epochs": 2,
        "batch_size": 32,
        "mixup": 0.5,
        "label_smoothing": 0.1,
        "noise": True,
        "balanced": True,
        "eval_batch_size": 50,
    }
    single = train(tiny_config(synthetic_data, tmp_path / "single", **settings))

    config = tiny_config(synthetic_data, tmp_path / "ddp", **settings).to_dict()
    (tmp_path / "ddp.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            "-m",
            "uavm",
            "train",
            "--recipe",
            str(tmp_path / "ddp.yaml"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 process(es)" in (tmp_path / "ddp" / "train.log").read_text()
    for a, b in zip(_rows(single.results_csv), _rows(tmp_path / "ddp" / "results.csv"), strict=True):
        assert a == pytest.approx(b, abs=1e-4)
    one, two = uavm.load_model(single.last_model), uavm.load_model(tmp_path / "ddp" / "last_model.safetensors")
    for (name, x), y in zip(one.state_dict().items(), two.state_dict().values()):
        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-5, msg=name)
