"""Class 3: no small file makes unbounded work; only what the model uses is decoded.

A clip's features need its first ``seq_len`` frames at ``fps`` (the first
``seq_len / fps`` seconds: 10 s for the paper) and the samples of the fbank's
``target_frames``. Files generated here: a 2000x2 video (refused: its frames would
be 224000 px wide), and videos whose second frame is stamped 1200 s and 10 h after
the first (the fps filter would repeat the first frame for the whole gap).
"""

from __future__ import annotations

import csv
import resource
import subprocess
import sys

import numpy as np
import pytest
import torch

from helpers.bad_media import TINY, make_clip, run_cli
from uavm.extraction import ClipInput
from uavm.extraction.decode import decode_clip
from uavm.feature_spec import FeatureSpec
from uavm.features.filterbank import normalized_fbank
from uavm.media.audio_io import load_audio
from uavm.media.video_io import load_frames
from uavm.store import FeatureStore

pytestmark = pytest.mark.usefixtures("one_thread")


def far_apart(ffmpeg: str, path, seconds: int):
    """Two video frames, the second stamped ``seconds`` after the first; 2 s of audio."""
    subprocess.run(
        [
            ffmpeg,
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25:duration=0.08",
            "-f",
            "lavfi",
            "-i",
            "sine=duration=2",
            "-vf",
            f"setpts='if(eq(N,0),0,{seconds}/TB)'",
            "-fps_mode",
            "passthrough",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            str(path),
        ],
        check=True,
        capture_output=True,
    )
    return path


@pytest.fixture(scope="module")
def pathological(tmp_path_factory, ffmpeg_bin):
    folder = tmp_path_factory.mktemp("pathological")
    make_clip(ffmpeg_bin, folder / "wide.mp4", size="2000x2")
    far_apart(ffmpeg_bin, folder / "far1200.mp4", 1200)
    far_apart(ffmpeg_bin, folder / "far10h.mp4", 36000)
    assert all(p.stat().st_size < 50_000 for p in folder.iterdir())
    return folder


def test_a_long_clip_is_decoded_as_far_as_the_model_needs_with_the_same_features(tmp_path, ffmpeg_bin):
    clip = make_clip(ffmpeg_bin, tmp_path / "long.mp4", seconds=16, size="64x48", rate="10")
    config = FeatureSpec(fps=3, short_side=32, seq_len=30)
    decoded = decode_clip(ClipInput("long", clip), config)
    assert decoded.problems == {}
    every_frame = load_frames(clip, fps=3, short_side=32)
    assert len(every_frame) == 48
    np.testing.assert_array_equal(decoded.frames, every_frame[:30].numpy())
    # the fbank of the cut waveform, centred on the whole track's mean, is the whole clip's fbank
    waveform = load_audio(clip)
    assert len(waveform) > 15 * 16000  # longer than the fbank uses
    spec = config.fbank
    whole = normalized_fbank(waveform, spec.target_frames, spec.norm_mean, spec.norm_std)
    np.testing.assert_allclose(decoded.fbank, whole.numpy(), atol=1e-4)


@pytest.mark.slow
def test_pathological_clips_extract_in_bounded_memory(pathological, tmp_path):
    """Peak resident memory of a whole ``uavm extract`` run at the paper's 224 px stays under 3 GB."""
    out = tmp_path / "store"
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "uavm",
            "extract",
            str(pathological),
            "--out",
            str(out),
            "--audio-encoder",
            TINY,
            "--visual-encoder",
            TINY,
            "--short-side",
            "224",
            "--workers",
            "1",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    )
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert done.returncode == 2, done.stderr  # the wide clip's video is refused
    assert peak_kib >= before and peak_kib <= 3 * 1024 * 1024, f"peak RSS {peak_kib / 1024**2:.2f} GiB"
    with open(out / "failures.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["clip_id"] for r in rows] == ["wide"]
    assert "frame size 2000x2 is refused" in rows[0]["reason"] and "224000 px" in rows[0]["reason"]
    records = {r.clip_id: r for r in FeatureStore(out).records}
    assert (records["far1200"].n_visual, records["far10h"].n_visual) == (30, 30)
    assert records["wide"].n_visual == 0 and records["wide"].n_audio > 0


def test_predict_on_pathological_clips(pathological, tiny_checkpoint, capsys):
    code, out, err = run_cli(
        ["predict", pathological, "--model", tiny_checkpoint, "--device", "cpu", "--top-k", "1"], capsys
    )
    assert code == 0, err  # every clip has at least one view
    assert "note: visual: frame size 2000x2 is refused" in out
    assert out.count("  fused:\n") == 2, out


def test_the_frame_sampler_stops_at_max_frames(pathological):
    frames = load_frames(pathological / "far10h.mp4", short_side=32, max_frames=30)
    assert frames.shape[0] == 30
    assert torch.equal(frames[0], frames[-1])  # the first picture fills the gap, as the CLI does
