"""The demo dataset: real h264 + aac files whose sound and picture each tell half of a class."""

from __future__ import annotations

import csv
import itertools

import av
import pytest

from uavm.demo.dataset import demo_classes, make_demo_dataset


def test_each_modality_confuses_a_different_pair():
    classes = demo_classes(8)
    for a, b in itertools.combinations(classes, 2):
        assert (a.colour, a.sound) != (b.colour, b.sound)
    for c in classes:
        same_colour = [o.index for o in classes if o.colour == c.colour and o is not c]
        same_sound = [o.index for o in classes if o.sound == c.sound and o is not c]
        assert len(same_colour) == 1 and len(same_sound) == 1 and same_colour != same_sound
    with pytest.raises(ValueError):
        demo_classes(7)


def test_clips_are_real_mp4s_and_a_rerun_keeps_them(tmp_path):
    paths = make_demo_dataset(tmp_path, n_classes=4, clips_per_class=5, seconds=1.0, progress=False)
    with open(paths["labels"], newline="") as f:
        assert [r["mid"] for r in csv.DictReader(f)] == ["demo_0", "demo_1", "demo_2", "demo_3"]
    rows = {split: list(csv.DictReader(open(paths[split], newline=""))) for split in ("train", "val", "test")}
    assert [len(r) for r in rows.values()] == [12, 4, 4]
    ids = [r["id"] for split in rows.values() for r in split]
    assert len(set(ids)) == 20
    clip = tmp_path / rows["test"][0]["path"]
    with av.open(str(clip)) as container:
        kinds = {(s.type, s.codec_context.name) for s in container.streams}
        frames = sum(1 for _ in container.decode(video=0))
    assert kinds == {("video", "h264"), ("audio", "aac")} and frames == 12
    before = clip.stat().st_mtime_ns
    make_demo_dataset(tmp_path, n_classes=4, clips_per_class=5, seconds=1.0, progress=False)
    assert clip.stat().st_mtime_ns == before
