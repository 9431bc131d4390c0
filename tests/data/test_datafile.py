import json

import pytest

from uavm.data.datafile import read_datafile, resolve_entry_path, rewrite_paths, write_datafile
from uavm.errors import UAVMError


def _write(path, data):
    path.write_text(json.dumps(data))
    return path


def test_reads_reference_feature_and_raw_datafiles(tmp_path):
    p = _write(
        tmp_path / "train.json",
        {
            "data": [
                {"labels": "vgg_1,vgg_2", "afeat": "/x/a/abc_000010.npy", "vfeat": "/x/v/abc_000010.npy"},
                {"labels": "/m/09x0r", "wav": "/w/clip7.wav", "video": "/w/clip7.mp4", "video_id": "YT7"},
            ]
        },
    )
    first, second = read_datafile(p)
    assert first.labels == ["vgg_1", "vgg_2"] and first.clip_id == "abc_000010"
    assert first.afeat == "/x/a/abc_000010.npy" and first.wav is None
    assert second.clip_id == "YT7" and second.wav == "/w/clip7.wav" and second.extra == {"video_id": "YT7"}


def test_write_roundtrip_keeps_reference_format(tmp_path):
    p = _write(tmp_path / "in.json", {"data": [{"labels": "a,b", "afeat": "1.npy", "vfeat": "2.npy", "foo": 3}]})
    write_datafile(tmp_path / "out.json", read_datafile(p))
    assert json.loads((tmp_path / "out.json").read_text()) == {
        "data": [{"labels": "a,b", "afeat": "1.npy", "vfeat": "2.npy", "foo": 3}]
    }


def test_rewrite_paths_uses_clip_id(tmp_path):
    p = _write(tmp_path / "in.json", {"data": [{"labels": "a", "afeat": "/old/a/ID1.npy", "vfeat": "/old/v/ID1.npy"}]})
    (entry,) = rewrite_paths(read_datafile(p), afeat_dir=tmp_path / "A", vfeat_dir="/V")
    assert entry.afeat == str(tmp_path / "A" / "ID1.npy") and entry.vfeat == "/V/ID1.npy"


def test_relative_paths_fall_back_to_the_datafile_folder(tmp_path, monkeypatch):
    (tmp_path / "feats").mkdir()
    (tmp_path / "feats" / "c.npy").write_bytes(b"")
    monkeypatch.chdir("/")
    assert resolve_entry_path("feats/c.npy", tmp_path / "d.json") == tmp_path / "feats" / "c.npy"
    assert resolve_entry_path("/abs/c.npy", tmp_path / "d.json").as_posix() == "/abs/c.npy"


@pytest.mark.parametrize(
    "content, problem",
    [
        ("{", "not valid JSON"),
        ("[1]", '"data" list'),
        ('{"data": [{"afeat": "x"}]}', "entry 0: an entry needs"),
        ('{"data": [{"labels": 5}]}', "comma-separated"),
    ],
)
def test_malformed_datafiles(tmp_path, content, problem):
    p = tmp_path / "bad.json"
    p.write_text(content)
    with pytest.raises(UAVMError, match=problem) as info:
        read_datafile(p)
    assert str(p) in str(info.value)


def test_missing_datafile(tmp_path):
    with pytest.raises(UAVMError, match="cannot read datafile"):
        read_datafile(tmp_path / "none.json")
