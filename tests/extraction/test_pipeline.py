"""End-to-end extraction: bad files, resuming, a real SIGKILL, worker processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from uavm.cli import main
from uavm.extraction import ExtractOptions, extract, read_inputs
from uavm.extraction.extractor import FeatureExtractor
from uavm.extraction.failures import read_failures
from uavm.feature_spec import FeatureSpec
from uavm.features.filterbank import normalized_fbank
from uavm.media.audio_io import load_audio
from uavm.media.video_io import load_frames
from uavm.store import FeatureStore

from .conftest import SHORT_SIDE, TINY, single_thread_env

CLI_ARGS = ["--audio-encoder", TINY, "--visual-encoder", TINY, "--short-side", str(SHORT_SIDE), "--quiet"]


def assert_same_store(a: FeatureStore, b: FeatureStore) -> None:
    """Same clips in the same order with the same facts; features equal up to float16 rounding."""
    assert [r.to_json() for r in a.records] == [r.to_json() for r in b.records]
    everything = np.arange(len(a))
    for modality in ("audio", "visual"):
        np.testing.assert_allclose(
            a.read(everything, modality).astype(np.float32),
            b.read(everything, modality).astype(np.float32),
            rtol=2e-3,
            atol=2e-3,
        )


@pytest.mark.slow
def test_mixed_folder_keeps_good_clips_and_lists_bad_ones(mixed_folder, tmp_path, tiny_encoders):
    out = tmp_path / "store"
    with pytest.raises(SystemExit) as exit_info:
        main(["extract", str(mixed_folder), "--out", str(out), "--workers", "0", "--batch-size", "2", *CLI_ARGS])
    assert exit_info.value.code == 2

    store = FeatureStore(out)
    records = {r.clip_id: r for r in store.records}
    assert sorted(records) == ["bigbuckbunny", "bikes", "one_second"]
    bikes, short = records["bikes"], records["one_second"]
    assert (bikes.has_audio, bikes.has_visual, bikes.n_audio, bikes.n_visual) == (False, True, 0, 30)
    assert (short.has_audio, short.has_visual, short.n_audio, short.n_visual) == (True, True, 30, 3)
    assert not store.read([store.index_of("bikes")], "audio").any()

    failures = {f.clip_id: f for f in read_failures(out / "failures.csv")}
    assert sorted(failures) == ["corrupt", "empty", "text"]
    assert failures["empty"].reason == "empty file"
    assert "not a readable media file" in failures["text"].reason
    assert "not a readable media file" in failures["corrupt"].reason
    assert failures["corrupt"].source.endswith("corrupt.mp4")

    # the stored features of a real clip are the encoders' output on the decoded clip (float16)
    path = mixed_folder / "bigbuckbunny.mp4"
    i = store.index_of("bigbuckbunny")
    with torch.inference_mode():
        visual = tiny_encoders.visual.encode(load_frames(path, short_side=SHORT_SIDE)).numpy()
        spec = tiny_encoders.audio_input
        assert spec.target_frames == 990  # random encoders take VGGSound's input
        fbank = normalized_fbank(load_audio(path), spec.target_frames, spec.norm_mean, spec.norm_std)
        audio = tiny_encoders.audio.encode(fbank[None])[0].numpy()
    assert records["bigbuckbunny"].n_visual == len(visual) == 16
    np.testing.assert_allclose(store.read([i], "visual")[0, :16].astype(np.float32), visual, rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(store.read([i], "audio")[0].astype(np.float32), audio[:30], rtol=2e-3, atol=2e-3)


@pytest.mark.slow
def test_a_rerun_skips_finished_clips(tmp_path, many_folder, tiny_extractor, reference_store):
    items = read_inputs(many_folder)
    options = ExtractOptions(workers=0, batch_size=1, shard_size=2, progress=False)
    assert items[4].clip_id == "clip03_broken"
    first = extract(items[:5], tmp_path / "store", tiny_extractor, options)
    assert (first.extracted, first.failures) == (4, 1)
    second = extract(items, tmp_path / "store", tiny_extractor, options)
    assert (second.already_done, second.extracted, second.failures) == (4, 3, 1)
    assert_same_store(FeatureStore(tmp_path / "store"), FeatureStore(reference_store))
    assert read_failures(tmp_path / "store" / "failures.csv") == read_failures(reference_store / "failures.csv")


@pytest.mark.slow
def test_decoding_workers_give_the_single_process_store(tmp_path, many_folder, reference_store):
    """Two decoding processes, started while the encoders are built from the spec, decoding batches ahead."""
    options = ExtractOptions(workers=2, batch_size=2, shard_size=2, device="cpu", progress=False)
    report = extract(
        read_inputs(many_folder), tmp_path / "store", FeatureSpec(TINY, TINY, short_side=SHORT_SIDE), options
    )
    assert (report.extracted, report.failures) == (7, 1)
    assert_same_store(FeatureStore(tmp_path / "store"), FeatureStore(reference_store))
    assert read_failures(tmp_path / "store" / "failures.csv") == read_failures(reference_store / "failures.csv")


def test_resuming_with_other_settings_is_refused(tmp_path, many_folder, tiny_extractor):
    items = read_inputs(many_folder)[:1]
    extract(items, tmp_path / "s", tiny_extractor, ExtractOptions(workers=0, progress=False))
    with pytest.raises(Exception, match="short_side = 32, not 48"):
        extract(
            items,
            tmp_path / "s",
            FeatureExtractor(tiny_extractor.spec.replace(short_side=48), encoders=tiny_extractor.encoders),
            ExtractOptions(workers=0, progress=False),
        )


@pytest.mark.slow
def test_sigkill_mid_run_then_restart_gives_the_uninterrupted_store(tmp_path, many_folder, reference_store):
    out = tmp_path / "store"
    cmd = [
        sys.executable,
        "-m",
        "uavm",
        "extract",
        str(many_folder),
        "--out",
        str(out),
        "--workers",
        "2",
        "--batch-size",
        "1",
        "--shard-size",
        "2",
        *CLI_ARGS,
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=single_thread_env()
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        manifest = out / "store.json"
        if manifest.exists() and json.loads(manifest.read_text())["num_clips"] >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)  # the run and its decoding workers
    proc.wait()

    partial = FeatureStore(out)
    assert 2 <= len(partial) < 7
    done = subprocess.run(cmd, capture_output=True, text=True, env=single_thread_env())
    assert done.returncode == 2, done.stderr  # the broken clip
    assert f"({len(partial)} were already there)" in done.stdout
    assert_same_store(FeatureStore(out), FeatureStore(reference_store))
    assert read_failures(out / "failures.csv") == read_failures(reference_store / "failures.csv")
