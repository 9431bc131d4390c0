"""Archives as inputs: tar and tar.gz over HTTP from 127.0.0.1, streamed, resumed, routed by a VGGSound CSV."""

from __future__ import annotations

import csv
import io
import os
import shutil
import tarfile
import tempfile
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from helpers.http_server import serve
from uavm.cli import main
from uavm.data.labels import load_labels
from uavm.extraction import ExtractOptions, extract, read_inputs
from uavm.extraction.archives import (
    ARCHIVE_LOG,
    archive_list,
    extract_archives,
    member_clip_id,
    read_vggsound_csv,
)
from uavm.extraction.failures import read_failures
from uavm.store import FeatureStore

from .conftest import SHORT_SIDE, TINY, make_clip

# member name in the archive -> clip id; "../../" must be harmless
TAR_MEMBERS = {
    "video/yt_aaa_000010.mp4": "yt_aaa_000010",
    "video/yt_bbb_000020.mp4": "yt_bbb_000020",
    "video/yt_broken_000000.mp4": "yt_broken_000000",
}
TGZ_MEMBERS = {
    "video/yt_ccc_000030.mp4": "yt_ccc_000030",
    "../../yt_ddd_000040.mp4": "yt_ddd_000040",
    "video/yt_eee_000050.mp4": "yt_eee_000050",
}
GOOD = {c for c in (*TAR_MEMBERS.values(), *TGZ_MEMBERS.values()) if "broken" not in c}


def _tar(path: Path, members: dict[str, bytes], mode: str) -> Path:
    with tarfile.open(path, mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("video/notes.txt")  # not media: skipped
        info.size = 3
        tar.addfile(info, io.BytesIO(b"hi\n"))
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory, ffmpeg_bin) -> Path:
    """The media as plain files, named by clip id (the reference extraction reads these)."""
    folder = tmp_path_factory.mktemp("clips")
    for i, clip_id in enumerate(sorted(GOOD)):
        make_clip(ffmpeg_bin, folder / f"{clip_id}.mp4", 1, seed=i)
    return folder


@pytest.fixture(scope="module")
def served(tmp_path_factory, clips) -> Path:
    """A tar (one member broken) and a tar.gz (one member named ``../../...``)."""
    root = tmp_path_factory.mktemp("mirror")

    def data(clip_id: str) -> bytes:
        return b"not a video" * 100 if "broken" in clip_id else (clips / f"{clip_id}.mp4").read_bytes()

    _tar(root / "part0.tar", {n: data(c) for n, c in TAR_MEMBERS.items()}, "w")
    _tar(root / "part1.tar.gz", {n: data(c) for n, c in TGZ_MEMBERS.items()}, "w:gz")
    return root


@pytest.fixture
def options() -> ExtractOptions:
    return ExtractOptions(workers=0, batch_size=2, shard_size=2, progress=False)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, clips, tiny_extractor) -> FeatureStore:
    """The same clips extracted from plain files by the folder pipeline."""
    out = tmp_path_factory.mktemp("reference") / "store"
    extract(read_inputs(clips), out, tiny_extractor, ExtractOptions(workers=0, progress=False))
    return FeatureStore(out)


def assert_matches_reference(store: FeatureStore, reference: FeatureStore, ids: set[str]) -> None:
    assert {r.clip_id for r in store.records} == ids
    for clip_id in ids:
        mine, theirs = store.index_of(clip_id), reference.index_of(clip_id)
        for modality in ("audio", "visual"):
            np.testing.assert_allclose(
                store.read([mine], modality).astype(np.float32),
                reference.read([theirs], modality).astype(np.float32),
                rtol=2e-3,
                atol=2e-3,
            )


class DiskWatcher:
    """Polls folders while a job runs and records every file name seen under them."""

    def __init__(self, *folders: Path):
        self.folders, self.seen, self._stop = folders, set(), threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            for folder in self.folders:
                for dirpath, _, files in os.walk(folder):
                    self.seen.update(str(Path(dirpath, f).relative_to(folder)) for f in files)
            self._stop.wait(0.005)

    def __enter__(self) -> DiskWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def test_tar_and_tar_gz_over_http_are_streamed_once_and_a_rerun_adds_nothing(
    served, tmp_path, tiny_extractor, reference, options, monkeypatch
):
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    out = tmp_path / "out"
    with serve(served) as server:
        urls = [f"{server.url}/part0.tar", f"{server.url}/part1.tar.gz"]
        with DiskWatcher(temp, tmp_path / "out") as watcher:
            report = extract_archives(urls, out, tiny_extractor, options)
        assert report.archives_done == 2 and not report.archive_errors
        store = FeatureStore(out)
        assert_matches_reference(store, reference, GOOD)
        assert len(store.records) == len(GOOD)  # each clip once
        failures = read_failures(out / "failures.csv")
        assert [f.clip_id for f in failures] == ["yt_broken_000000"]
        assert failures[0].source == "part0.tar/video/yt_broken_000000.mp4"
        # nothing but the store's own files was ever written: no member, under any name
        assert not any(name.endswith((".mp4", ".txt")) for name in watcher.seen), watcher.seen
        assert not list(temp.iterdir())
        assert not (tmp_path / "yt_ddd_000040.mp4").exists() and not (tmp_path.parent / "yt_ddd_000040.mp4").exists()

        requests = len(server.requests)
        again = extract_archives(urls, out, tiny_extractor, options)
        assert again.archives_skipped == 2 and len(server.requests) == requests  # finished archives: not fetched
        assert again.stores["store"].extracted == 0
        assert len(FeatureStore(out)) == len(store)
        assert read_failures(out / "failures.csv") == failures


def test_a_half_read_archive_resumes_by_member(served, tmp_path, tiny_extractor, options):
    out = tmp_path / "out"
    extract_archives([str(served / "part0.tar")], out, tiny_extractor, options)
    (out / ARCHIVE_LOG).unlink()  # as if the run had died before the archive was recorded finished
    again = extract_archives([str(served / "part0.tar")], out, tiny_extractor, options)
    assert again.stores["store"].extracted == 0 and again.stores["store"].already_done == 2
    assert [f.clip_id for f in read_failures(out / "failures.csv")] == ["yt_broken_000000"]  # retried, listed once


def test_a_download_cut_midway_resumes_with_a_range_request(served, tmp_path, tiny_extractor, reference):
    out = tmp_path / "out"
    size = (served / "part1.tar.gz").stat().st_size
    with serve(served) as server:
        server.cut_after = size // 2
        report = extract_archives(
            [f"{server.url}/part1.tar.gz"],
            out,
            tiny_extractor,
            ExtractOptions(workers=1, batch_size=2, progress=False),  # the bytes cross to a worker process
            backoff=0.01,
        )
        ranges = [r for _, r in server.requests if r]
    assert report.archives_done == 1 and not report.archive_errors
    assert ranges == [f"bytes={size // 2}-"]
    assert_matches_reference(FeatureStore(out), reference, {c for c in TGZ_MEMBERS.values()})


def test_a_truncated_archive_is_reported_and_not_marked_finished(served, tmp_path, tiny_extractor, options):
    broken = tmp_path / "cut.tar.gz"
    data = (served / "part1.tar.gz").read_bytes()
    broken.write_bytes(data[: len(data) * 2 // 3])
    report = extract_archives([str(broken)], tmp_path / "out", tiny_extractor, options)
    assert len(report.archive_errors) == 1 and "cut.tar.gz" in report.archive_errors[0]
    assert not (tmp_path / "out" / ARCHIVE_LOG).exists()


def test_vggsound_csv_joins_labels_and_routes_splits(served, tmp_path, tiny_extractor, options):
    vocabulary = load_labels("vggsound")
    rows = [  # youtube_id, start, label, split; yt_eee is not listed
        ("yt_aaa", "10", vocabulary.names[0], "train"),
        ("yt_bbb", "20", vocabulary.names[5], "test"),
        ("yt_broken", "0", vocabulary.names[1], "train"),
        ("yt_ccc", "30", vocabulary.names[2], "train"),
        ("yt_ddd", "40", vocabulary.names[3], "test"),
    ]
    table_csv = tmp_path / "vggsound.csv"
    with open(table_csv, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    table = read_vggsound_csv(table_csv, vocabulary)
    expected = {f"{y}_{int(s):06d}": (vocabulary.mids[vocabulary.names.index(n)], sp) for y, s, n, sp in rows}
    assert {k: (v.labels[0], v.split) for k, v in table.items()} == expected

    out = tmp_path / "out"
    archives = tmp_path / "archives.txt"
    archives.write_text(f"# the mirror\n{served / 'part0.tar'}\n{served / 'part1.tar.gz'}\n")
    report = extract_archives(archive_list([archives]), out, tiny_extractor, options, vocabulary, table)
    for split in ("train", "test"):
        store = FeatureStore(out / split)
        want = {c for c, (_, sp) in expected.items() if sp == split and "broken" not in c}
        assert {r.clip_id for r in store.records} == want
        assert {r.clip_id: r.labels for r in store.records} == {c: [expected[c][0]] for c in want}
    assert [f.clip_id for f in read_failures(out / "train" / "failures.csv")] == ["yt_broken_000000"]
    assert [f.clip_id for f in read_failures(out / "failures.csv")] == ["yt_eee_000050"]
    assert report.unlisted == 1


def test_member_names_give_safe_ids():
    assert member_clip_id("../../etc/x_000001.mp4") == "x_000001"
    assert member_clip_id("/abs/y.MP4") == "y"
    assert member_clip_id("a/._hidden.mp4") is None
    assert member_clip_id("a/readme.txt") is None
    assert member_clip_id("..mp4") is None


def test_a_local_zip_and_the_cli(served, tmp_path, clips, reference):
    archive = tmp_path / "clips.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for clip_id in ("yt_aaa_000010", "yt_ccc_000030"):
            zf.write(clips / f"{clip_id}.mp4", f"x/{clip_id}.mp4")
    shutil.copy(served / "part0.tar", tmp_path / "part0.tar")
    out = tmp_path / "out"
    args = ["extract", str(archive), str(tmp_path / "part0.tar"), "--out", str(out), "--workers", "0"]
    args += ["--audio-encoder", TINY, "--visual-encoder", TINY, "--short-side", str(SHORT_SIDE), "--quiet"]
    with pytest.raises(SystemExit) as exit_status:  # 2: a clip failed
        main(args)
    assert exit_status.value.code == 2
    assert_matches_reference(FeatureStore(out), reference, {"yt_aaa_000010", "yt_bbb_000020", "yt_ccc_000030"})


def test_a_missing_archive_url_is_reported_and_the_next_one_runs(served, tmp_path, tiny_extractor, options):
    with serve(served) as server:
        urls = [f"{server.url}/gone.tar.gz", f"{server.url}/part0.tar"]
        report = extract_archives(urls, tmp_path / "out", tiny_extractor, options, backoff=0.01)
    assert len(report.archive_errors) == 1 and "gone.tar.gz" in report.archive_errors[0]
    assert "HTTP 404" in report.archive_errors[0] and "\n" not in report.archive_errors[0]
    assert report.archives_done == 1 and report.stores["store"].extracted == 2
    assert "per clip: decode" in report.summary()


@pytest.mark.parametrize("ranges", [True, False])
def test_a_zip_url_is_read_by_range_requests_without_touching_disk(
    tmp_path, clips, reference, tiny_extractor, options, ranges
):
    www = tmp_path / "www"
    www.mkdir()
    with zipfile.ZipFile(www / "clips.zip", "w") as zf:
        for clip_id in ("yt_aaa_000010", "yt_ccc_000030"):
            zf.write(clips / f"{clip_id}.mp4", f"x/{clip_id}.mp4")
    spool = tmp_path / "spool"
    spool.mkdir()
    with serve(www) as server:
        server.ranges = ranges
        report = extract_archives([f"{server.url}/clips.zip"], tmp_path / "out", tiny_extractor, options, tmp_dir=spool)
    assert report.archives_done == 1 and report.archive_errors == []
    assert_matches_reference(FeatureStore(tmp_path / "out"), reference, {"yt_aaa_000010", "yt_ccc_000030"})
    assert list(spool.iterdir()) == []  # a downloaded copy (servers without Range) is gone once read
    if ranges:  # every request asked for a byte range: the zip was never fetched whole
        assert server.requests and all(r is not None and r.rpartition("-")[2] for _, r in server.requests)
