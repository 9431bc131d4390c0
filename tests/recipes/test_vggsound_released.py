"""The vggsound-released recipe against a local HTTP server holding a tiny, format-correct release."""

import functools
import http.server
import json
import threading
import zipfile

import numpy as np
import pytest

from uavm.data.datafile import read_datafile
from uavm.errors import UAVMError
from uavm.recipes.vggsound_released import URLS, prepare_vggsound_released, released_urls, unpack_npy_zip
from uavm.store import FeatureStore

DIM = 16


def make_release(folder, n_train=48, n_test=16, seed=0):
    """a_feat.zip / v_feat.zip / train_vgg_convnext_2.json / test_vgg_convnext_2.json like the reference's."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    ids = {s: [f"{s[:2]}Clip{i:03d}_{i * 10:06d}" for i in range(n)] for s, n in (("train", n_train), ("test", n_test))}
    missing = ids["test"][-1]  # listed in the datafile, absent from the archives
    with zipfile.ZipFile(folder / "a_feat.zip", "w") as za, zipfile.ZipFile(folder / "v_feat.zip", "w") as zv:
        for clip in ids["train"] + ids["test"]:
            if clip == missing:
                continue
            for zf, sub, arr in (
                (za, "audio_feat_convnext_2", rng.standard_normal((30, DIM)).astype(np.float32)),
                (zv, "video_feat_convnext_2", rng.standard_normal((int(rng.integers(25, 33)), DIM)).astype(np.float16)),
            ):
                with zf.open(f"{sub}/{clip}.npy", "w") as f:
                    np.save(f, arr)
    for split in ("train", "test"):
        data = [
            {
                "labels": f"vgg_{i % 5}",
                "afeat": f"/data/sls/scratch/yuangong/vgg_feat/audio_feat_convnext_2/{clip}.npy",
                "vfeat": f"/data/sls/scratch/yuangong/vgg_feat/video_feat_convnext_2/{clip}.npy",
            }
            for i, clip in enumerate(ids[split])
        ]
        (folder / f"{split}_vgg_convnext_2.json").write_text(json.dumps({"data": data}))
    return ids, missing


class _Quiet(http.server.SimpleHTTPRequestHandler):
    requests: list = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        type(self).requests.append(self.path)
        super().do_GET()


@pytest.fixture
def release_server(tmp_path):
    ids, missing = make_release(tmp_path / "www")
    _Quiet.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=tmp_path / "www"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", ids, missing, _Quiet.requests
    server.shutdown()
    server.server_close()


def test_mirror_urls_keep_the_released_file_names():
    urls = released_urls("http://host/mirror/")
    assert urls["audio"] == "http://host/mirror/a_feat.zip"
    assert urls["test"] == "http://host/mirror/test_vgg_convnext_2.json"
    assert released_urls() == URLS and URLS["visual"].startswith("https://www.dropbox.com/")


def test_prepare_downloads_rewrites_and_packs(release_server, tmp_path):
    mirror, ids, missing, requests = release_server
    root = tmp_path / "root"
    prepared = prepare_vggsound_released(root, mirror=mirror, progress=False, shard_size=10)
    assert prepared.missing == {"train": 0, "test": 1}
    assert (root / "datafiles" / "test_missing.txt").read_text() == f"{missing}\n"
    entries = read_datafile(prepared.datafiles["test"])
    assert [e.clip_id for e in entries] == ids["test"][:-1]
    assert entries[0].afeat == str(root / "features" / "audio" / f"{ids['test'][0]}.npy")
    assert not (root / "downloads" / "a_feat.zip").exists()  # archives removed once unpacked
    store = FeatureStore(prepared.stores["train"])
    assert len(store) == 48 and store.dim == DIM and store.seq_len == 30 and store.label_set == "vggsound"
    row = store.index_of(ids["train"][3])
    expected = np.load(root / "features" / "audio" / f"{ids['train'][3]}.npy").astype(np.float16)
    np.testing.assert_array_equal(store.read([row], "audio")[0], expected)
    assert store.records[row].labels == ["vgg_3"]
    # a second call finds everything done: the archives are not fetched again
    before = list(requests)
    prepare_vggsound_released(root, mirror=mirror, progress=False)
    assert not [r for r in requests[len(before) :] if r.endswith(".zip")]


def test_unreachable_mirror_names_the_url(tmp_path):
    with pytest.raises(UAVMError, match="http://127.0.0.1:9/a_feat.zip"):
        prepare_vggsound_released(tmp_path, mirror="http://127.0.0.1:9", progress=False)


def test_corrupt_archive_is_a_clear_error(tmp_path):
    (tmp_path / "a.zip").write_bytes(b"garbage")
    with pytest.raises(UAVMError, match="not a readable zip archive"):
        unpack_npy_zip(tmp_path / "a.zip", tmp_path / "out", progress=False)


@pytest.mark.slow
def test_uavm_recipe_vggsound_released_end_to_end(release_server, tmp_path, one_thread):
    """``uavm recipe vggsound-released``: download, unpack, rewrite, pack, train; then ``uavm eval`` on it."""
    import pickle

    from click.testing import CliRunner

    from uavm.cli import cli

    mirror, ids, _, _ = release_server
    root = tmp_path / "root"
    tiny = [
        "model.embed_dim=32",
        "model.num_heads=2",
        "model.depth_i=1",
        "model.depth_s=1",
        "batch_size=12",
        "epochs=2",
        "num_workers=0",
        "val_fraction=0.25",
        "progress=false",
    ]
    run = CliRunner().invoke(cli, ["recipe", "vggsound-released", "--root", str(root), "--mirror", mirror, *tiny])
    assert run.exit_code == 0, run.output + repr(run.exception)
    out = root / "runs" / "uavm"
    assert "best epoch" in run.output and (out / "results.csv").read_text().count("\n") == 3
    config = (out / "config.yaml").read_text()
    assert str(root / "store" / "train") in config and "lr: 5.0e-05" in config

    pkl = tmp_path / "uavm.pkl"
    run = CliRunner().invoke(
        cli,
        [
            "eval",
            str(out / "best_model.safetensors"),
            "--data",
            str(root / "store" / "test"),
            "--num-workers",
            "0",
            "--export-vggsounder",
            str(pkl),
            "--json",
            str(tmp_path / "m.json"),
        ],
    )
    assert run.exit_code == 0, run.output + repr(run.exception)
    assert "av" in run.output
    with open(pkl, "rb") as f:
        payload = pickle.load(f)
    assert sorted(payload) == sorted(ids["test"][:-1])
    assert len(payload[ids["test"][0]]["logits"]["v"]) == 309
    assert set(json.loads((tmp_path / "m.json").read_text())) >= {"a", "v", "av", "clips"}
