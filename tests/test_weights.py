"""The weights module: one reader for every kind, atomic save, cached download + convert, meta-device builds."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

import pytest
import torch
import torchvision
from safetensors.torch import load_file, save_file

import uavm
from helpers import reference_uavm as ref
from helpers.http_server import serve
from helpers.tiny_models import small_config
from uavm import registry, weights
from uavm.errors import CheckpointError
from uavm.features.audio_encoder import AudioEncoder
from uavm.features.visual_encoder import VisualEncoder
from uavm.models import build_model, load_model
from uavm.registry import AudioEncoderCfg, FbankSpec


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert sorted(a) == sorted(b)
    for key, value in a.items():
        assert torch.equal(value, b[key]), key


# ----------------------------------------------------------------- reading


def test_one_reader_for_models_and_encoders(tmp_path):
    sd = ref.reference_state_dict("unified", 16, 2, 1, 1, 3, 4, 8, 8)
    torch.save({f"module.{k}": v for k, v in sd.items()}, tmp_path / "model.pth")  # DataParallel reference file
    state, meta = weights.read_weights(tmp_path / "model.pth")
    _same(state, sd)
    assert meta == {}

    torch.manual_seed(0)
    vision = torchvision.models.convnext_tiny().state_dict()
    torch.save({"state_dict": vision}, tmp_path / "wrapped.pth")  # a training-script wrapper
    _same(weights.read_weights(tmp_path / "wrapped.pth")[0], vision)

    model = build_model(small_config(embed_dim=16, num_classes=3))
    path = uavm.save_model(model, tmp_path / "model.safetensors", info={"labels": "vggsound"})
    state, meta = weights.read_weights(path)
    _same(state, load_file(str(path)))  # the safetensors library's own reading
    assert json.loads(meta["uavm_info"]) == {"labels": "vggsound"} and "uavm_config" in meta
    assert weights.read_metadata(path) == meta and weights.read_metadata(tmp_path / "model.pth") == {}

    encoder = AudioEncoder("tiny", num_classes=5, dataset="audioset")
    saved = encoder.save(tmp_path / "audio.bin")  # no suffix: recognised by its header
    state, meta = weights.read_weights(saved)
    _same(state, {k: v.contiguous() for k, v in encoder.state_dict().items()})
    assert meta["format"] == "uavm.audio_encoder" and meta["dataset"] == "audioset"


class _Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {_Exploit.marker}",))


def test_bad_files_are_one_line_errors_naming_the_file(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        weights.read_weights(tmp_path / "missing.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"just some text")
    with pytest.raises(CheckpointError, match=r"junk\.pth: not a readable checkpoint.*truncated"):
        weights.read_weights(junk)
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(CheckpointError, match=r"list\.pth: not a checkpoint \(expected a state_dict"):
        weights.read_weights(tmp_path / "list.pth")
    _Exploit.marker = tmp_path / "pwned"
    torch.save({"x": _Exploit()}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointError, match=r"evil\.pth: refused.*posix\.system"):
        weights.read_weights(tmp_path / "evil.pth")
    assert not _Exploit.marker.exists()
    save_file({"w": torch.zeros(100)}, str(tmp_path / "cut.safetensors"))
    data = (tmp_path / "cut.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[:-40])
    with pytest.raises(CheckpointError, match=r"cut\.safetensors: not a readable safetensors file"):
        weights.read_weights(tmp_path / "cut.safetensors")
    with pytest.raises(CheckpointError) as info:
        weights.read_weights(junk)
    assert "\n" not in str(info.value)


# ----------------------------------------------------------------- writing


def test_save_is_atomic_and_round_trips(tmp_path):
    path = tmp_path / "sub" / "w.safetensors"
    first = {"a": torch.arange(6.0).view(2, 3).t(), "b": torch.ones(2, dtype=torch.float16)}  # non-contiguous
    weights.save_weights(path, first, {"format": "test"})
    state, meta = weights.read_weights(path)
    _same(state, {k: v.contiguous() for k, v in first.items()})
    assert meta == {"format": "test"}
    before = path.read_bytes()
    with pytest.raises(Exception):  # noqa: B017 - whatever safetensors raises for a non-string value
        weights.save_weights(path, {"a": torch.zeros(3)}, {"format": 1})
    assert path.read_bytes() == before  # the old file is intact
    assert sorted(p.name for p in path.parent.iterdir()) == ["w.safetensors"]  # no temporary left


# ----------------------------------------------------------------- names → files


@pytest.fixture
def served_encoder(tmp_path, monkeypatch):
    """A registered audio encoder whose released file (reference format) is on a local HTTP server."""
    monkeypatch.setenv("UAVM_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(1)
    encoder = AudioEncoder("tiny", num_classes=4)
    srv = tmp_path / "srv"
    srv.mkdir()
    reference_keys = {
        ("module.model.0." + k[len("features.") :])
        if k.startswith("features.")
        else ("module.model.2." + k[len("classifier.") :])
        if k.startswith("classifier.")
        else k: v
        for k, v in encoder.state_dict().items()
    }
    torch.save(reference_keys, srv / "enc.pth")
    with serve(srv) as server:
        entry = AudioEncoderCfg(
            name="audio_encoder_test",
            url=f"{server.url}/enc.pth?dl=1",
            dataset="audioset",
            num_classes=4,
            fbank=FbankSpec(target_frames=64),
            size="tiny",
        )
        monkeypatch.setitem(registry.AUDIO_ENCODERS, entry.name, entry)
        yield server, entry, encoder


def test_registered_weights_download_and_convert_once(served_encoder, tmp_path):
    server, _, encoder = served_encoder
    calls = []

    def convert(got, released, dest):
        calls.append((got.name, released.name))
        weights.save_weights(dest, weights.read_weights(released)[0], {"format": "test"})

    first = weights.locate("audio_encoder_test", "audio_encoder", convert)
    again = weights.locate("audio_encoder_test", "audio_encoder", convert)
    assert first == again == tmp_path / "cache" / "models" / "audio_encoder_test.safetensors"
    assert calls == [("audio_encoder_test", "enc.pth")] and len(server.requests) == 1
    assert list((tmp_path / "cache" / "downloads").iterdir()) == []  # the released file is gone once converted
    # the encoder class goes through the same cache: no new request, same weights
    loaded = AudioEncoder.from_checkpoint("audio_encoder_test")
    assert len(server.requests) == 1
    _same(loaded.state_dict(), encoder.state_dict())


def test_encoder_converter_records_the_dataset(served_encoder, tmp_path):
    server, _, _ = served_encoder
    loaded = AudioEncoder.from_checkpoint("audio_encoder_test")
    assert loaded.dataset == "audioset" and len(server.requests) == 1
    meta = weights.read_metadata(tmp_path / "cache" / "models" / "audio_encoder_test.safetensors")
    assert meta["dataset"] == "audioset" and meta["format"] == "uavm.audio_encoder"


def test_urls_are_downloaded_once_and_paths_pass_through(served_encoder, tmp_path):
    server, _, _ = served_encoder
    url = f"{server.url}/enc.pth?dl=1"
    path = weights.locate(url, "audio_encoder")
    assert path == tmp_path / "cache" / "downloads" / "enc.pth" and path.is_file()
    assert weights.locate(url, "audio_encoder") == path and len(server.requests) == 1
    assert weights.locate(path, "model") == path
    with pytest.raises(CheckpointError, match=r"nope\.pth: no such file \(registered visual encoders: convnext_base"):
        weights.locate(tmp_path / "nope.pth", "visual_encoder")
    # a name of another kind is not a registered name of this kind
    with pytest.raises(CheckpointError, match="no such file"):
        weights.locate("audio_encoder_test", "model")


# ----------------------------------------------------------------- meta-device builds


def test_meta_builds_equal_normal_builds_and_use_no_randomness(tmp_path):
    torch.manual_seed(5)
    config = small_config("cross_attention", embed_dim=16, num_classes=3)
    model = build_model(config).eval()
    path = uavm.save_model(model, tmp_path / "m.safetensors")
    rng = torch.get_rng_state()
    loaded = load_model(path)
    assert torch.equal(torch.get_rng_state(), rng)  # nothing was randomly initialised
    tensors = [*loaded.parameters(), *loaded.buffers()]
    assert all(t.device.type == "cpu" for t in tensors)
    x, y = torch.randn(2, 4, 8), torch.randn(2, 4, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, y), model(x, y), rtol=0, atol=0)

    vision = VisualEncoder("tiny")
    rng = torch.get_rng_state()
    meta_built = VisualEncoder.from_state_dict(vision.state_dict())
    assert torch.equal(torch.get_rng_state(), rng)
    # mean / std are not in the state_dict: they must still hold the ImageNet values, on the CPU
    assert "mean" not in vision.state_dict()
    torch.testing.assert_close(meta_built.mean.flatten(), torch.tensor([0.485, 0.456, 0.406]), rtol=0, atol=0)
    torch.testing.assert_close(meta_built.std.flatten(), torch.tensor([0.229, 0.224, 0.225]) + 1e-8, rtol=0, atol=0)
    assert meta_built.device.type == "cpu"
    frames = torch.randint(0, 256, (2, 40, 48, 3), dtype=torch.uint8)
    assert torch.equal(meta_built.encode(frames), vision.encode(frames))

    audio = AudioEncoder("tiny", num_classes=3).eval()
    rng = torch.get_rng_state()
    again = AudioEncoder.from_state_dict(audio.state_dict())
    assert torch.equal(torch.get_rng_state(), rng)
    fbank = torch.randn(1, 64, 128)
    with torch.no_grad():
        assert torch.equal(again.eval().encode(fbank), audio.encode(fbank))


def test_a_buffer_left_on_the_meta_device_is_an_error():
    class Scaled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(2, 2)
            self.register_buffer("scale", torch.ones(2), persistent=False)  # no explicit device

    state = Scaled().state_dict()
    with pytest.raises(CheckpointError, match="no weights for scale"):
        weights.build_loaded(Scaled, state, "test")
    with pytest.raises(CheckpointError, match=r"test: does not fit a network \(.*linear\.bias"):
        weights.build_loaded(Scaled, {"linear.weight": state["linear.weight"]}, "test")


# ----------------------------------------------------------------- registry


def test_registry_lists_every_kind_without_importing_torch():
    code = (
        "import json, sys, uavm.registry as r; print(json.dumps([r.list_models(), r.list_names('audio_encoder'), "
        "r.list_names('visual_encoder'), 'torch' in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout) == [
        uavm.list_models(),
        ["audio_encoder_audioset", "audio_encoder_vggsound"],
        [f"convnext_{s}_imagenet" for s in ("base", "large", "small", "tiny")],
        False,
    ]


def test_registry_entries_carry_their_preprocessing():
    for name in registry.list_models():
        entry = registry.get_pretrained_cfg(name)
        audio = registry.get_pretrained_cfg(entry.audio_encoder, "audio_encoder")
        assert entry.features.fbank == audio.fbank and audio.dataset == entry.dataset
        assert registry.find(entry.visual_encoder, "visual_encoder") is not None
    assert registry.AUDIO_ENCODERS["audio_encoder_audioset"].fbank.target_frames == 1000
    for size in ("tiny", "small", "base", "large"):  # the URLs are torchvision's own
        weights_enum = getattr(torchvision.models, f"ConvNeXt_{size.capitalize()}_Weights")
        assert registry.VISUAL_ENCODERS[f"convnext_{size}_imagenet"].url == weights_enum.IMAGENET1K_V1.url
    assert set(registry.ENTRIES) == {*registry.REGISTRY, *registry.AUDIO_ENCODERS, *registry.VISUAL_ENCODERS}
    with pytest.raises(ValueError, match="unknown audio encoder 'x'; known: audio_encoder_audioset"):
        registry.get_pretrained_cfg("x", "audio_encoder")
    assert "uavm_vggsound" not in registry.AUDIO_ENCODERS and registry.find("uavm_vggsound", "visual_encoder") is None
    with pytest.raises(TypeError):
        registry.REGISTRY["x"] = registry.AUDIO_ENCODERS["audio_encoder_vggsound"]
    assert pickle.loads(pickle.dumps(registry.REGISTRY["uavm_vggsound"])) == registry.REGISTRY["uavm_vggsound"]
