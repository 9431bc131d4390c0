"""Class 6: a label CSV naming the same mid twice is refused, naming the file, the line and the mid."""

from __future__ import annotations

import pytest

from helpers.bad_media import extract_args, make_clip, run_cli
from uavm.data.labels import read_label_csv
from uavm.errors import ConfigError

pytestmark = pytest.mark.usefixtures("one_thread")

CSV = "index,mid,display_name\n0,/m/a,alpha\n1,/m/b,beta\n2,/m/a,alpha again\n"


def test_a_repeated_mid_is_an_error_naming_file_line_and_mid(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text(CSV)
    with pytest.raises(ConfigError) as info:
        read_label_csv(path)
    assert str(info.value) == f"{path} line 4: mid '/m/a' is already on line 2; each mid must name one class"


def test_extract_with_such_labels_is_one_error_line(tmp_path, ffmpeg_bin, capsys):
    (tmp_path / "labels.csv").write_text(CSV)
    (tmp_path / "in").mkdir()
    make_clip(ffmpeg_bin, tmp_path / "in" / "a.mp4")
    code, _, err = run_cli(
        [*extract_args(tmp_path / "in", tmp_path / "store"), "--labels", tmp_path / "labels.csv"], capsys
    )
    assert code == 1 and err.count("\n") == 1 and err.startswith("error: ") and "line 4: mid '/m/a'" in err
    assert not (tmp_path / "store").exists()


def test_predict_with_such_labels_is_one_error_line(tmp_path, tiny_checkpoint, capsys):
    rows = "".join(f"{i},/m/{i % 300},c{i}\n" for i in range(309))
    (tmp_path / "labels.csv").write_text("index,mid,display_name\n" + rows)
    code, _, err = run_cli(
        [
            "predict",
            tmp_path / "x.mp4",
            "--model",
            tiny_checkpoint,
            "--labels",
            tmp_path / "labels.csv",
            "--device",
            "cpu",
        ],
        capsys,
    )
    assert code == 1 and err.count("\n") == 1 and "line 302: mid '/m/0' is already on line 2" in err
