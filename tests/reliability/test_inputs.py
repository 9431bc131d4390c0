"""Classes 1-2: nothing is lost from the failures report, and no input is skipped in silence.

Files are generated here: a good clip, a video-only clip, a file whose name is not
valid UTF-8, a truncated file, a clip whose video is refused (2000x2: audio kept),
and folder entries that are not regular files (dangling link, link loop, folder
named ``*.mp4``, FIFO). Each bad one must be a failure row of ``uavm extract`` and
an ``error:`` line of ``uavm predict``, naming it and the problem.
"""

from __future__ import annotations

import csv
import os
import subprocess

import pytest

from helpers.bad_media import extract_args, make_clip, run_cli

pytestmark = pytest.mark.usefixtures("one_thread")

BAD_NAME = os.fsdecode(b"bad\xff")  # not valid UTF-8: a surrogate escape in Python
EXPECTED = {  # clip id as written in failures.csv -> words its reason must contain
    "bad\\xff": "not a readable media file",
    "dangling": "dangling symbolic link",
    "loop_a": "symbolic link loop",
    "loop_b": "symbolic link loop",
    "folder": "a folder, not a media file",
    "fifo": "named pipe (FIFO)",
    "wide": "frame size 2000x2 is refused",
}


@pytest.fixture(scope="module")
def bad_folder(tmp_path_factory, ffmpeg_bin):
    folder = tmp_path_factory.mktemp("bad")
    good = make_clip(ffmpeg_bin, folder / "good.mp4")
    make_clip(ffmpeg_bin, folder / "video_only.mp4", audio=False)
    (folder / f"{BAD_NAME}.mp4").write_bytes(good.read_bytes()[:3000])
    make_clip(ffmpeg_bin, folder / "wide.mp4", size="2000x2")  # audio kept, video refused: a partial failure
    os.symlink("nowhere.mp4", folder / "dangling.mp4")
    os.symlink("loop_b.mp4", folder / "loop_a.mp4")
    os.symlink("loop_a.mp4", folder / "loop_b.mp4")
    (folder / "folder.mp4").mkdir()
    os.mkfifo(folder / "fifo.mp4")
    (folder / "notes.txt").write_text("not media: ignored")
    return folder


def rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_extract_reports_every_bad_entry_and_keeps_the_report_across_reruns(bad_folder, tmp_path, capsys):
    out = tmp_path / "store"
    code, stdout, err = run_cli(extract_args(bad_folder, out), capsys)
    assert code == 2, err  # documented: some clips failed
    assert "3 clips extracted" in stdout and f"{len(EXPECTED)} failed" in stdout
    first = (out / "failures.csv").read_bytes()
    found = {r["clip_id"]: r for r in rows(out / "failures.csv")}
    assert set(found) == set(EXPECTED)
    for clip_id, words in EXPECTED.items():
        assert words in found[clip_id]["reason"], found[clip_id]
    assert found["wide"]["reason"].endswith("(audio features kept)")
    assert found["bad\\xff"]["source"].endswith("bad\\xff.mp4")

    for _ in range(2):  # re-runs: nothing new to extract, the same report, the same exit status
        code, stdout, err = run_cli(extract_args(bad_folder, out), capsys)
        assert code == 2, err
        assert "0 clips extracted" in stdout and "(3 were already there)" in stdout
        assert (out / "failures.csv").read_bytes() == first


def test_a_folder_of_only_non_files_is_not_a_silent_success(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    os.symlink("nowhere.mp4", folder / "dangling.mp4")
    (folder / "folder.mp4").mkdir()
    code, stdout, _ = run_cli(extract_args(folder, tmp_path / "store"), capsys)
    assert code == 2 and "2 failed" in stdout


def test_predict_names_each_bad_file_and_its_problem(bad_folder, tiny_checkpoint, capsys):
    args = [
        "predict",
        bad_folder,
        bad_folder / "fifo.mp4",
        "--model",
        tiny_checkpoint,
        "--device",
        "cpu",
        "--top-k",
        "1",
    ]
    code, stdout, err = run_cli(args, capsys)
    assert code == 1  # documented: some files failed
    errors = [line[line.index("error:") :] for line in err.splitlines() if "error:" in line]  # after tqdm's \r
    assert len(errors) == len(EXPECTED) - 1 + 1  # wide.mp4 keeps its audio view; the FIFO named twice
    for clip_id, words in EXPECTED.items():
        if clip_id != "wide":
            assert any(clip_id in line and words in line for line in errors), (clip_id, errors)
    assert not any("no such file" in line for line in errors)
    assert "good.mp4" in stdout and "video_only.mp4" in stdout
    assert "note: visual: frame size 2000x2 is refused" in stdout


def test_predict_calls_a_device_a_device(tiny_checkpoint, capsys):
    code, _, err = run_cli(["predict", "/dev/null", "--model", tiny_checkpoint, "--device", "cpu"], capsys)
    assert code == 1 and err.strip().endswith("/dev/null: a device, not a regular file")


def test_a_newline_in_a_file_name_never_breaks_a_line(tmp_path, ffmpeg_bin, tiny_checkpoint, capsys):
    good = make_clip(ffmpeg_bin, tmp_path / "new\nline.mp4", seconds=0.4)
    bad = tmp_path / "bad\rname\t.mp4"
    bad.write_bytes(good.read_bytes()[:2000])
    base = ["predict", "--model", tiny_checkpoint, "--device", "cpu", "--top-k", "1"]
    code, stdout, err = run_cli([*base, good, bad], capsys)
    assert code == 1
    assert f"{tmp_path}/new\\x0aline.mp4\n  audio:" in stdout
    (error,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert error.startswith(f"error: {tmp_path}/bad\\x0dname\\x09.mp4: not a readable media file")
    code, stdout, err = run_cli([*base, "--timeline", good, bad], capsys)
    assert code == 1
    assert stdout.startswith(f"{tmp_path}/new\\x0aline.mp4 (0.4 s)\n")
    assert err.startswith(f"error: {tmp_path}/bad\\x0dname\\x09.mp4: not a readable media file")
    code, _, _ = run_cli(extract_args(tmp_path, tmp_path / "store"), capsys)
    assert code == 2
    (row,) = rows(tmp_path / "store" / "failures.csv")
    assert row["clip_id"] == "bad\\x0dname\\x09"
    assert len((tmp_path / "store" / "failures.csv").read_text().splitlines()) == 2  # the header and one row


def test_other_common_media_suffixes_are_inputs(tmp_path, ffmpeg_bin, capsys):
    tone = ["-f", "lavfi", "-i", "sine=duration=0.3"]
    for name in ("a.aiff", "b.mka", "c.m2ts", "d.wma", "e.oga"):
        subprocess.run([ffmpeg_bin, "-v", "error", *tone, str(tmp_path / name)], check=True, capture_output=True)
    code, stdout, err = run_cli(extract_args(tmp_path, tmp_path / "store"), capsys)
    assert code == 0, err
    assert "5 clips extracted" in stdout
