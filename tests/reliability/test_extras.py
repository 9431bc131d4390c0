"""Class 9: on a core install (no extras) every command and API that needs an extra says which, in one line.

The extras' modules (scipy, scikit-learn, matplotlib, starlette, uvicorn, huggingface_hub) are hidden from a child
process before uavm is imported (``sys.modules[name] = None``: importing them fails
and ``importlib.util.find_spec`` says they are absent, as on a core install).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from helpers.bad_media import extract_args, make_clip

BLOCKER = textwrap.dedent("""
    import sys
    for name in ("scipy", "sklearn", "matplotlib", "starlette", "uvicorn", "huggingface_hub"):  # as if not installed: import fails, find_spec is None
        sys.modules[name] = None
""")


def core_python(code: str, *args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + code, *args],
        capture_output=True,
        cwd=cwd,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    )


def core_cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return core_python("from uavm.cli import main\nmain(sys.argv[1:])\n", *args, cwd=cwd)


@pytest.mark.parametrize(
    "args, extra",
    [
        (["train", "epochs=1"], "train"),
        (["eval", "model.safetensors", "--data", "store"], "train"),
        (["train-audio-encoder", "train=data.json"], "train"),
        (["analyze", "tsne", "model.safetensors", "--data", "store", "--out", "x"], "analysis"),
        (["analyze", "sweep", "runs", "--out", "x"], "analysis"),
        (["serve", "--port", "1"], "serve"),
    ],
)
def test_commands_name_their_extra_in_one_line(args, extra, tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"")  # paths the commands check exist; never read
    (tmp_path / "store").mkdir()
    (tmp_path / "runs").mkdir()
    done = core_cli(*args, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    command = " ".join(args[:2]) if args[0] == "analyze" else args[0]
    assert (
        done.stderr == f"error: uavm {command} needs the [{extra}] extra: pip install 'uavm[{extra}]'"
        f" ({done.stderr.split('(')[-1].rstrip()}\n"
    ), done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "code, extra",
    [
        ("import uavm.train.metrics", "train"),
        (
            "from uavm.analysis.tsne import tsne_embedding\nimport numpy as np\ntsne_embedding(np.zeros((3, 4)), np.zeros((3, 4)))",
            "analysis",
        ),
        ("from uavm.analysis.plots import new_figure\nnew_figure(1, 1)", "analysis"),
    ],
)
def test_apis_raise_one_line_missing_extra_errors(code, extra):
    script = (
        "from uavm.errors import MissingExtraError\ntry:\n"
        + textwrap.indent(code, "    ")
        + "\nexcept MissingExtraError as exc:\n    print(exc)\n"
    )
    done = core_python(script)
    assert done.returncode == 0, done.stderr
    assert f"needs the [{extra}] extra: pip install 'uavm[{extra}]'" in done.stdout and done.stdout.count("\n") == 1


def test_core_commands_work_without_extras(tmp_path, ffmpeg_bin):
    (tmp_path / "in").mkdir()
    make_clip(ffmpeg_bin, tmp_path / "in" / "a.mp4")
    done = core_cli(*map(str, extract_args(tmp_path / "in", tmp_path / "store")))
    assert done.returncode == 0, done.stderr
    assert core_cli("--help").returncode == 0
