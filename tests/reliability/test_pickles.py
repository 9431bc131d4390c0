"""Class 8: a pickle that would run code is refused in one line, never with torch's ``weights_only=False`` advice.

Checked everywhere a torch file is read from a user's path: encoders of ``uavm
extract`` and ``uavm predict``, the model of ``uavm predict``, training checkpoints.
"""

from __future__ import annotations

import pytest
import torch

from helpers.bad_media import extract_args, make_clip, run_cli
from uavm.errors import CheckpointError
from uavm.train.checkpointing import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


class Payload:
    def __reduce__(self):
        return (print, ("CODE RAN",))


@pytest.fixture(scope="module")
def evil(tmp_path_factory):
    path = tmp_path_factory.mktemp("evil") / "evil.pt"
    torch.save({"w": Payload()}, path)
    return path


def assert_refused_in_one_line(err: str, path) -> None:
    assert err.count("\n") == 1 and err.startswith(f"error: {path}: refused"), err
    assert "weights_only" not in err and "can still be loaded" not in err and "CODE RAN" not in err


@pytest.mark.parametrize("flag", ["--audio-encoder", "--visual-encoder"])
def test_extract_refuses_an_encoder_pickle_in_one_line(evil, flag, tmp_path, ffmpeg_bin, capsys):
    (tmp_path / "in").mkdir()
    make_clip(ffmpeg_bin, tmp_path / "in" / "a.mp4")
    args = extract_args(tmp_path / "in", tmp_path / "store")
    args[args.index(flag) + 1] = evil
    code, out, err = run_cli(args, capsys)
    assert code == 1 and "CODE RAN" not in out
    assert_refused_in_one_line(err, evil)


@pytest.mark.parametrize("flag", ["--model", "--audio-encoder", "--visual-encoder"])
def test_predict_refuses_a_pickle_in_one_line(evil, flag, tiny_checkpoint, tmp_path, capsys):
    args = ["predict", tmp_path / "a.mp4", "--model", tiny_checkpoint, "--device", "cpu", flag, evil]
    code, out, err = run_cli(args, capsys)
    assert code == 1 and "CODE RAN" not in out
    assert_refused_in_one_line(err, evil)


def test_training_checkpoint_pickle_is_refused_in_one_line(evil):
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(evil)
    assert str(info.value).startswith(f"{evil}: refused") and "\n" not in str(info.value)
    assert "weights_only" not in str(info.value)
