"""Input forms of `uavm extract`: folder, CSV and JSON manifests, reference datafiles."""

from __future__ import annotations

import json

import pytest

from uavm.errors import ConfigError
from uavm.extraction.inputs import ClipInput, read_inputs


def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_folder_lists_media_recursively_in_a_fixed_order(tmp_path):
    for name in ["b.mp4", "a.MKV", "sub/c.wav", "notes.txt", ".hidden/d.mp4", "sub/.e.mp4"]:
        touch(tmp_path / name)
    items = read_inputs(tmp_path)
    assert [(i.clip_id, i.path.name) for i in items] == [("a", "a.MKV"), ("b", "b.mp4"), ("sub/c", "c.wav")]
    assert all(i.labels == () for i in items)


def test_csv_manifest_with_ids_labels_and_relative_paths(tmp_path):
    touch(tmp_path / "media" / "x.mp4")
    (tmp_path / "list.csv").write_text('path,id,labels\nmedia/x.mp4,clipx,"/m/a,/m/b"\nmedia/y.mp4,,\n')
    items = read_inputs(tmp_path / "list.csv")
    assert items[0] == ClipInput("clipx", tmp_path / "media" / "x.mp4", ("/m/a", "/m/b"))
    assert items[1].clip_id == "y" and items[1].labels == ()
    (tmp_path / "bad.csv").write_text("file,id\nx.mp4,1\n")
    with pytest.raises(ConfigError, match="needs a 'path' column"):
        read_inputs(tmp_path / "bad.csv")


def test_json_list_and_reference_datafile(tmp_path):
    (tmp_path / "list.json").write_text(json.dumps([{"path": "/abs/v.mp4", "labels": ["/m/z"]}]))
    assert read_inputs(tmp_path / "list.json") == [ClipInput("v", tmp_path.joinpath("/abs/v.mp4"), ("/m/z",))]
    datafile = {
        "data": [
            {"labels": "/m/a,/m/b", "video": "clips/--abc_000010.mp4", "wav": "w/--abc.wav"},
            {"labels": "/m/c", "wav": "w/q.wav", "video_id": "qq"},
        ]
    }
    (tmp_path / "train.json").write_text(json.dumps(datafile))
    items = read_inputs(tmp_path / "train.json")
    assert [(i.clip_id, i.path.name, i.labels) for i in items] == [
        ("--abc", "--abc_000010.mp4", ("/m/a", "/m/b")),
        ("qq", "q.wav", ("/m/c",)),
    ]  # ids as DataEntry.clip_id


def test_feature_datafiles_point_to_pack(tmp_path):
    (tmp_path / "feat.json").write_text(json.dumps({"data": [{"labels": "/m/a", "afeat": "a.npy", "vfeat": "v.npy"}]}))
    with pytest.raises(ConfigError, match="uavm pack"):
        read_inputs(tmp_path / "feat.json")


def test_repeated_ids_and_unknown_inputs_are_errors(tmp_path):
    touch(tmp_path / "f" / "a.mp4")
    touch(tmp_path / "f" / "a.wav")
    with pytest.raises(ConfigError, match="repeated: 'a'"):
        read_inputs(tmp_path / "f")
    with pytest.raises(ConfigError, match="no such folder"):
        read_inputs(tmp_path / "missing")
    touch(tmp_path / "list.yaml")
    with pytest.raises(ConfigError, match="a .csv or a .json"):
        read_inputs(tmp_path / "list.yaml")
