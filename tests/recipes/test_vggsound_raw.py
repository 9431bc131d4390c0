"""``uavm recipe vggsound-raw`` end to end against a local mirror of generated media archives."""

from __future__ import annotations

import csv
import io
import json
import tarfile

import pytest

from helpers.bad_media import make_clip
from helpers.http_server import serve
from uavm.data.labels import load_labels
from uavm.recipes.vggsound_raw import ARCHIVES, archive_urls
from uavm.store import FeatureStore

TINY = ["--audio-encoder", "random:tiny", "--visual-encoder", "random:tiny", "--short-side", "32", "--workers", "0"]
TRAIN_SETTINGS = [
    "model.embed_dim=32",
    "model.num_heads=2",
    "model.depth_i=1",
    "model.depth_s=1",
    "batch_size=8",
    "epochs=2",
    "num_workers=0",
    "val_fraction=0.25",
    "progress=false",
]


@pytest.fixture(scope="module")
def mirror(tmp_path_factory, ffmpeg_bin):
    """Two tar.gz archives of 1 s clips named like VGGSound's, with vggsound.csv (12 train, 4 test clips)."""
    root = tmp_path_factory.mktemp("mirror")
    names = load_labels("vggsound").names
    rows, members = [], [{}, {}]
    clip = make_clip(ffmpeg_bin, root / "clip.mp4", 1)
    data = clip.read_bytes()
    clip.unlink()
    for i in range(16):
        ytid, start = f"vid{i:02d}", 10 * i
        rows.append((ytid, start, names[i % 3], "test" if i % 4 == 3 else "train"))
        members[i % 2][f"scratch/video/{ytid}_{start:06d}.mp4"] = data
    for n, part in enumerate(members):
        with tarfile.open(root / ARCHIVES[n], "w:gz") as tar:
            for name, payload in part.items():
                info = tarfile.TarInfo(name)
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
    with open(root / "vggsound.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    (root / "archives.txt").write_text(f"{ARCHIVES[0]}\n{ARCHIVES[1]}\n")
    return root


def test_archive_urls_default_to_the_mirror_names():
    urls = archive_urls("http://mirror/vgg/")
    assert len(urls) == 20 and urls[0] == "http://mirror/vgg/vggsound_00.tar.gz"


@pytest.mark.slow
def test_uavm_recipe_vggsound_raw_end_to_end(mirror, tmp_path, one_thread):
    from click.testing import CliRunner

    from uavm.cli import cli

    root = tmp_path / "root"
    with serve(mirror) as server:
        args = ["recipe", "vggsound-raw", "--root", str(root), "--mirror", server.url]
        args += ["--archives", str(mirror / "archives.txt"), *TINY, *TRAIN_SETTINGS]
        run = CliRunner().invoke(cli, args)
    assert run.exit_code == 0, run.output + repr(run.exception)
    assert len(FeatureStore(root / "store" / "train")) == 12 and len(FeatureStore(root / "store" / "test")) == 4
    out = root / "runs" / "uavm"
    assert (out / "results.csv").read_text().count("\n") == 3
    metrics = json.loads((out / "test_metrics.json").read_text())
    assert metrics["clips"] == 4 and set(metrics) >= {"a", "v", "av"}
    assert "best epoch" in run.output
