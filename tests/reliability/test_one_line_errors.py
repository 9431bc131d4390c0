"""Class 5: tracebacks where one line belongs.

A damaged store manifest; model and data of different feature widths; one per-clip
feature file of another width in a datafile (found when the data is opened, naming
the file); an output folder on a full disk or a read-only filesystem (one line naming
the path and the cause, nothing half-written that a re-run would trust).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers.bad_media import extract_args, make_clip, run_cli
from uavm.data.dataset import open_dataset
from uavm.data.labels import load_labels
from uavm.errors import MediaError
from uavm.store import FeatureStore

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def clips(tmp_path_factory, ffmpeg_bin):
    folder = tmp_path_factory.mktemp("clips")
    for i in range(3):
        make_clip(ffmpeg_bin, folder / f"c{i}.mp4")
    return folder


def one_error_line(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err


def feature_datafile(folder, widths):
    entries = []
    for i, width in enumerate(widths):
        for kind in ("a", "v"):
            np.save(folder / f"{kind}{i}.npy", np.ones((30, width), np.float32))
        entries.append(
            {
                "video_id": f"c{i}",
                "labels": "vgg_1",
                "afeat": str(folder / f"a{i}.npy"),
                "vfeat": str(folder / f"v{i}.npy"),
            }
        )
    path = folder / "data.json"
    path.write_text(json.dumps({"data": entries}))
    return path


@pytest.mark.parametrize("key", ["dim", "shards", "seq_len"])
def test_a_store_manifest_missing_a_key(key, tiny_checkpoint, tmp_path, clips, capsys):
    store = tmp_path / "store"
    assert run_cli(extract_args(clips, store), capsys)[0] == 0
    doc = json.loads((store / "store.json").read_text())
    del doc[key]
    (store / "store.json").write_text(json.dumps(doc))
    code, _, err = run_cli(["eval", tiny_checkpoint, "--data", store, "--device", "cpu", "--num-workers", "0"], capsys)
    assert code == 1
    assert one_error_line(err) == f"error: {store / 'store.json'}: damaged store manifest: the key {key!r} is missing\n"


def test_model_and_store_of_different_widths(tiny_checkpoint, tmp_path, capsys):
    datafile = feature_datafile(tmp_path, [16, 16])
    assert run_cli(["pack", datafile, "--out", tmp_path / "store", "--quiet"], capsys)[0] == 0
    code, _, err = run_cli(
        ["eval", tiny_checkpoint, "--data", tmp_path / "store", "--device", "cpu", "--num-workers", "0"], capsys
    )
    assert code == 1
    assert "takes audio features of width 768, but" in one_error_line(err) and "holds width 16" in err
    assert "pad" not in err  # the old hint (pad or cut the sequences) was wrong


def test_one_feature_file_of_another_width_is_named_when_the_data_opens(tmp_path):
    datafile = feature_datafile(tmp_path, [16, 16, 16, 12, 16])
    with pytest.raises(MediaError) as info:
        open_dataset(datafile, load_labels("vggsound"))
    assert str(info.value).startswith(f"{tmp_path / 'a3.npy'}: features of width 12, but {tmp_path / 'a0.npy'}")
    assert "entry 3" in str(info.value)


def test_full_disk_is_one_line_and_a_rerun_with_space_completes(tmpfs, clips, capsys):
    disk = tmpfs("full", "size=1m")
    (disk / "filler").write_bytes(b"\0" * (1024 * 1024 - 24 * 1024))
    store = disk / "store"
    code, _, err = run_cli([*extract_args(clips, store), "--shard-size", "1"], capsys)
    assert code == 1
    assert str(store) in one_error_line(err) and "no space left on device" in err
    assert FeatureStore(store).records == [] if (store / "store.json").exists() else True
    assert not [p for p in store.iterdir() if p.name.startswith("shard-")]  # nothing half-written listed
    (disk / "filler").unlink()
    code, out, err = run_cli([*extract_args(clips, store), "--shard-size", "1"], capsys)
    assert code == 0, err
    assert len(FeatureStore(store).records) == 3 and not [p for p in store.iterdir() if ".tmp" in p.name]


def test_read_only_output_is_one_line(tmpfs, clips, capsys):
    disk = tmpfs("ro", "size=1m,ro")
    code, _, err = run_cli(extract_args(clips, disk / "store"), capsys)
    assert code == 1
    assert one_error_line(err) == f"error: {disk / 'store'}: cannot write: read-only file system\n"


@pytest.mark.parametrize(
    "setting, message",
    [
        ("bf16=maybe", "bf16 must be true or false, got 'maybe'"),
        ("device=nonsense", "device 'nonsense' is not a torch device"),
        ("lr=null", "lr must be a number, got null"),
        ("labels=[1,2]", "labels must be a string, got [1, 2]"),
        ("epochs=[1,2]", "epochs must be a number, got [1, 2]"),
    ],
)
def test_settings_of_the_wrong_type(setting, message, tmp_path, capsys):
    datafile = feature_datafile(tmp_path, [16, 16, 16])
    code, _, err = run_cli(
        [
            "train",
            f"train={datafile}",
            "epochs=1",
            "batch_size=2",
            f"out_dir={tmp_path / 'run'}",
            "num_workers=0",
            setting,
        ],
        capsys,
    )
    assert code == 1 and message in one_error_line(err)
