"""Training into a full or read-only folder: one line naming the path and the cause, and a re-run
with space resumes from what was committed (nothing half-written is trusted).

Real tmpfs mounts (root and mount rights needed; skipped with the reason elsewhere).
"""

from __future__ import annotations

import json

import pytest

from helpers.bad_media import run_cli
from helpers.tiny_models import TRAIN_OVERRIDES
from uavm.data.synthetic import write_synthetic

TINY = ["model.arch=unified", *TRAIN_OVERRIDES, "val_fraction=0.25"]


@pytest.fixture
def data(tmp_path):
    return write_synthetic(tmp_path / "syn", {"train": 96, "test": 32}, num_classes=8, dim=16, seq_len=8)


def train_args(data, out, epochs: int) -> list:
    return [
        "train",
        "--out",
        out,
        f"train={data['train']}",
        f"test={data['test']}",
        f"labels={data['labels']}",
        f"epochs={epochs}",
        *TINY,
    ]


def one_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_read_only_output_is_one_line_naming_it(tmpfs, data, capsys, one_thread):
    disk = tmpfs("ro", "size=1m,ro")
    code, _, err = run_cli(train_args(data, disk / "run", 1), capsys)
    assert code == 1
    line = one_line(err)
    assert str(disk / "run") in line and "read-only" in line


def test_full_disk_mid_run_is_one_line_and_the_run_resumes_with_space(tmpfs, data, tmp_path, capsys, one_thread):
    disk = tmpfs("full", "size=4m")
    out = disk / "run"
    code, _, err = run_cli(train_args(data, out, 1), capsys)  # how much one epoch writes
    assert code == 0, err
    used = sum(p.stat().st_size for p in out.iterdir())
    for p in out.iterdir():
        p.unlink()
    out.rmdir()
    # leave room for the first epoch's files but not the second's
    (disk / "filler").write_bytes(b"\0" * (4 * 1024 * 1024 - used - used // 2))
    code, _, err = run_cli(train_args(data, out, 3), capsys)
    assert code == 1
    line = one_line(err)
    assert str(out) in line and "no space left on device" in line
    assert not [p.name for p in out.iterdir() if ".tmp" in p.name or p.name.endswith(".part")]
    (disk / "filler").unlink()
    code, _, err = run_cli([*train_args(data, out, 3), "--resume"], capsys)
    assert code == 0, err
    results = json.loads((out / "results.json").read_text())
    assert len((out / "results.csv").read_text().strip().splitlines()) == 4  # header + 3 epochs
    assert results  # a complete run's results, after resuming from the last committed epoch
    clean = tmp_path / "clean"
    assert run_cli(train_args(data, clean, 3), capsys)[0] == 0
    assert (out / "results.csv").read_text() == (clean / "results.csv").read_text()
