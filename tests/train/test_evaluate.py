import pickle

import numpy as np
import pytest
import torch

import uavm
from uavm.data.dataset import DatafileDataset
from uavm.data.labels import load_labels
from uavm.errors import UAVMError
from uavm.train.evaluate import evaluate, export_vggsounder, result_row, vggsounder_class_names
from uavm.train.metrics import classification_metrics

from .conftest import TINY_MODEL

pytestmark = pytest.mark.usefixtures("one_thread")


def _dataset(synthetic_data):
    return DatafileDataset(synthetic_data["test"], load_labels(synthetic_data["labels"]), seq_len=8)


def _features(ds, m, normalise=True):
    x = torch.tensor(ds.read(np.arange(len(ds)), m), dtype=torch.float32)
    return torch.nn.functional.normalize(x, dim=-1) if normalise else x


@pytest.mark.parametrize("arch", ["unified", "independent"])
def test_three_way_evaluation_of_single_modality_models(synthetic_data, arch):
    ds = _dataset(synthetic_data)
    torch.manual_seed(0)
    model = uavm.create_model(arch, num_classes=8, a_input_dim=16, v_input_dim=16, **TINY_MODEL).eval()
    result = evaluate(model, ds, batch_size=40)
    with torch.no_grad():
        la = model(_features(ds, "a"), "a").numpy()
        lv = model(_features(ds, "v"), "v").numpy()
    np.testing.assert_allclose(result["logits"]["a"], la, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(result["logits"]["av"], (la + lv) / 2, rtol=1e-5, atol=1e-5)
    assert result["clip_ids"] == ds.clip_ids and result["targets"].shape == (96, 8)
    assert result["v"] == pytest.approx(classification_metrics(lv, ds.targets()))
    assert list(result_row(result)) == [
        "acc_a",
        "mAP_a",
        "mAUC_a",
        "acc_v",
        "mAP_v",
        "mAUC_v",
        "acc_av",
        "mAP_av",
        "mAUC_av",
    ]
    raw = evaluate(model, ds, batch_size=96, feat_norm=False)
    with torch.no_grad():
        np.testing.assert_allclose(
            raw["logits"]["a"], model(_features(ds, "a", False), "a").numpy(), rtol=1e-5, atol=1e-5
        )


def test_cross_attention_single_modalities_see_zeros(synthetic_data):
    ds = _dataset(synthetic_data)
    torch.manual_seed(0)
    model = uavm.create_model("cross_attention", num_classes=8, a_input_dim=16, v_input_dim=16, **TINY_MODEL)
    result = evaluate(model, ds, batch_size=64)
    a, v = _features(ds, "a"), _features(ds, "v")
    with torch.no_grad():
        np.testing.assert_allclose(result["logits"]["av"], model(a, v).numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(result["logits"]["a"], model(a, torch.zeros_like(v)).numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(result["logits"]["v"], model(torch.zeros_like(a), v).numpy(), rtol=1e-5, atol=1e-5)
    assert model.training  # evaluation restores the mode it found


def test_vggsounder_names_use_commas():
    names = vggsounder_class_names(load_labels("vggsound"))
    assert len(names) == 309 and names[2] == "bird chirping, tweeting" and names[0] == "ambulance siren"
    assert not any("_" in n for n in names)
    with pytest.raises(UAVMError, match="309 VGGSound classes"):
        vggsounder_class_names(load_labels("audioset"))


def _fake_result(clip_ids, rng):
    logits = {m: rng.standard_normal((len(clip_ids), 309)).astype(np.float32) for m in ("a", "v")}
    logits["av"] = (logits["a"] + logits["v"]) / 2
    return {"clip_ids": list(clip_ids), "logits": logits}


def test_vggsounder_pickle_format(tmp_path):
    result = _fake_result(["abc_000010", "xyz_000020"], np.random.default_rng(0))
    result["logits"]["v"][1, 2] = 100.0  # "bird chirping_ tweeting" in our CSV
    path = export_vggsounder(result, load_labels("vggsound"), tmp_path / "uavm.pkl", top_k=2)
    with open(path, "rb") as f:
        payload = pickle.load(f)
    assert set(payload) == {"abc_000010", "xyz_000020"}
    entry = payload["xyz_000020"]
    assert set(entry) == {"predictions", "logits"}
    assert set(entry["predictions"]) == set(entry["logits"]) == {"a", "v", "av"}
    assert entry["predictions"]["v"][0] == "bird chirping, tweeting" and len(entry["predictions"]["a"]) == 2
    assert len(entry["logits"]["av"]) == 309 and all(isinstance(x, float) for x in entry["logits"]["av"])
    np.testing.assert_allclose(entry["logits"]["a"], result["logits"]["a"][1])
    top = int(np.argmax(result["logits"]["a"][0]))
    assert payload["abc_000010"]["predictions"]["a"][0] == load_labels("vggsound").names[top].replace("_", ",")


@pytest.mark.filterwarnings("ignore:The inplace keyword")
def test_the_vggsounder_benchmark_reads_the_export(tmp_path):
    """Runs the vggsounder package's own benchmark on our pickle (its labels ship inside the wheel)."""
    pytest.importorskip("pandas")
    pytest.importorskip("vggsounder")
    from vggsounder import VGGSounder
    from vggsounder.benchmark import benchmark

    gt = VGGSounder(background_music=None, voice_over=None, static_image=None)
    classes = gt.get_all_labels()

    def comma_av_label(video):  # an audio-visual label that our CSV spells with underscores
        return next((lab for lab, m in zip(video.labels, video.modalities) if "," in lab and m == "AV"), None)

    chosen = [v for v in gt.values() if comma_av_label(v)][:20]
    result = _fake_result([v.video_id for v in chosen], np.random.default_rng(1))
    for row, video in enumerate(chosen):
        result["logits"]["av"][row, classes.index(comma_av_label(video))] = 50.0  # fused: always right
        for label in video.labels:
            result["logits"]["a"][row, classes.index(label)] = -50.0  # audio: never right
    (tmp_path / "models").mkdir()
    export_vggsounder(result, load_labels("vggsound"), tmp_path / "models" / "uavm.pkl")
    table = benchmark(
        str(tmp_path / "models"),
        display_names={"uavm": "UAVM"},
        metrics=[("hit_rate", ["a", "av"])],
        vggsounder=gt,
        verbose=False,
    )
    assert table.loc["UAVM", ("hit_rate", "av")] == pytest.approx(100.0)
    assert table.loc["UAVM", ("hit_rate", "a")] == pytest.approx(0.0)
