"""The registry of paper models, create_model, and pretrained weights fetched over HTTP."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import uavm
from helpers import reference_uavm as ref
from helpers.http_server import serve
from helpers.tiny_models import SMALL, small_config
from uavm import registry
from uavm.errors import CheckpointError, DownloadError
from uavm.models import REGISTRY, ModelConfig

PAPER_PARAMETERS = {  # SPEC §2 / the issue, 309 classes
    ("unified", 3, 3): 117_541_791,
    ("unified", 6, 0): 154_557_652,
    ("independent", 3, 3): 156_722_388,
    ("cross_attention", 3, 3): 117_572_511,
}


@pytest.mark.parametrize("key", PAPER_PARAMETERS, ids=lambda k: f"{k[0]}-di{k[1]}-ds{k[2]}")
def test_paper_parameter_counts(key):
    arch, di, ds = key
    model = uavm.create_model(arch, depth_i=di, depth_s=ds, num_classes=309)
    assert sum(p.numel() for p in model.parameters()) == PAPER_PARAMETERS[key]


def test_registry_names_and_configs():
    assert uavm.list_models() == sorted(
        [
            "uavm_vggsound",
            "independent_vggsound",
            "cross_attention_vggsound",
            "uavm_audioset",
            "independent_audioset",
            "cross_attention_audioset",
        ]
    )
    for name, entry in REGISTRY.items():
        dataset = name.rsplit("_", 1)[1]
        assert entry.dataset == dataset
        assert entry.config.num_classes == {"vggsound": 309, "audioset": 527}[dataset]
        assert entry.audio_encoder == f"audio_encoder_{dataset}"
        assert entry.url.startswith("https://www.dropbox.com/") and ".pth?dl=1" in entry.url
        di, ds = (6, 0) if name.startswith("independent") else (3, 3)
        assert (entry.config.depth_i, entry.config.depth_s, entry.config.num_heads) == (di, ds, 4)
        assert f"-di{di}-ds{ds}-" in entry.url


def test_create_model_overrides_and_errors():
    model = uavm.create_model(
        "uavm_vggsound", embed_dim=32, num_heads=2, a_input_dim=8, v_input_dim=8, num_classes=5, seq_len=4
    )
    assert model.config == ModelConfig("unified", 32, 2, 3, 3, 5, 4, 8, 8, 0)
    with pytest.raises(ValueError, match="unknown model"):
        uavm.create_model("resnet50")
    with pytest.raises(ValueError, match="no released weights"):
        uavm.create_model("unified", pretrained=True)


def _tiny_entry(monkeypatch, url):
    entry = dataclasses.replace(REGISTRY["uavm_vggsound"], config=small_config(), url=url)
    monkeypatch.setitem(registry.REGISTRY, "uavm_vggsound", entry)
    return entry


def test_pretrained_true_downloads_converts_once_and_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("UAVM_CACHE", str(tmp_path / "cache"))
    sd = ref.reference_state_dict("unified", 32, 2, 1, 1, 5, 4, 8, 8)
    (tmp_path / "srv").mkdir()
    torch.save({f"module.{k}": v for k, v in sd.items()}, tmp_path / "srv" / "tiny-h2-di1-ds1.pth")
    with serve(tmp_path / "srv") as server:
        _tiny_entry(monkeypatch, f"{server.url}/tiny-h2-di1-ds1.pth?dl=1")
        model = uavm.create_model("uavm_vggsound", pretrained=True)
        again = uavm.create_model("uavm_vggsound", pretrained=True)
        assert len(server.requests) == 1  # converted once, then served from the cache
    cached = tmp_path / "cache" / "models" / "uavm_vggsound.safetensors"
    assert cached.exists() and not list((tmp_path / "cache" / "downloads").glob("*.pth"))
    x = torch.randn(2, 4, 8)
    expected = ref.one_modality({k: v.double() for k, v in sd.items()}, "v", x.double(), 2, "s_trans")[0][-1]
    with torch.no_grad():
        torch.testing.assert_close(model(x, "v").double(), expected, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(again(x, "v"), model(x, "v"))


def test_pretrained_offline_error_names_url_and_path(tmp_path, monkeypatch):
    monkeypatch.setenv("UAVM_CACHE", str(tmp_path / "cache"))
    (tmp_path / "srv").mkdir()
    with serve(tmp_path / "srv") as server:
        entry = _tiny_entry(monkeypatch, f"{server.url}/gone.pth?dl=1")
        with pytest.raises(DownloadError) as info:
            uavm.create_model("uavm_vggsound", pretrained=True)
    assert entry.url in str(info.value) and str(tmp_path / "cache" / "downloads" / "gone.pth") in str(info.value)


def test_pretrained_path_with_wrong_sizes(tmp_path):
    model = uavm.create_model("unified", **SMALL)
    path = uavm.save_model(model, tmp_path / "m.safetensors")
    loaded = uavm.create_model("unified", pretrained=path, **SMALL)
    assert loaded.config == model.config
    with pytest.raises(CheckpointError, match="differs"):
        uavm.create_model("unified", pretrained=path, embed_dim=32, num_heads=2, num_classes=5)
