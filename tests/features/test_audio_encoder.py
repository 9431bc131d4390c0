"""AudioEncoder against torchvision computed directly, reference checkpoint format, registry and ImageNet init."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torchvision
from safetensors import safe_open

from helpers.http_server import serve
from uavm.errors import CheckpointError
from uavm.features.audio_encoder import AudioEncoder
from uavm.features.convnext import IMAGENET_URLS
from uavm.features.filterbank import FBANK_STATS
from uavm.hub import filename_from_url
from uavm.registry import AUDIO_ENCODERS


class ReferenceWrapper(torch.nn.Module):
    """The reference's audio model: ``model = nn.Sequential(*convnext.children())``, 1-channel stem."""

    def __init__(self, num_classes: int):
        super().__init__()
        net = torchvision.models.convnext_tiny(num_classes=num_classes)
        stem = net.features[0][0]
        one_channel = torch.nn.Conv2d(1, stem.out_channels, kernel_size=4, stride=4)
        one_channel.weight = torch.nn.Parameter(stem.weight.sum(dim=1, keepdim=True))
        one_channel.bias = stem.bias
        net.features[0][0] = one_channel
        self.model = torch.nn.Sequential(*net.children())


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A reference-format (DataParallel) checkpoint of a tiny ConvNeXt, and the torchvision model it holds."""
    torch.manual_seed(0)
    wrapper = ReferenceWrapper(num_classes=7).eval()
    with torch.no_grad():  # non-trivial LayerNorm / layer-scale values so a mis-mapped key shows
        for name, p in wrapper.named_parameters():
            if "layer_scale" in name or name.endswith("norm.weight"):
                p.add_(0.3 * torch.randn_like(p))
    path = tmp_path_factory.mktemp("ref") / "vgg_audio_feat.pth"
    torch.save(torch.nn.DataParallel(wrapper).state_dict(), path)
    return path, wrapper.model


def torchvision_features(net: torch.nn.Sequential, fbank: torch.Tensor) -> torch.Tensor:
    """SPEC §3 computed by hand: [B, 1, 128, T] image → features → mean over frequency → [B, T', D]."""
    image = fbank.permute(0, 2, 1).unsqueeze(1)
    return net[0](image).mean(dim=2).permute(0, 2, 1)


def test_reference_checkpoint_loads_and_matches_torchvision(reference):
    path, net = reference
    keys = torch.load(path, weights_only=True).keys()
    assert "module.model.0.0.0.weight" in keys and "module.model.2.2.weight" in keys
    encoder = AudioEncoder.from_checkpoint(path).eval()
    assert (encoder.size, encoder.num_classes, encoder.feature_dim) == ("tiny", 7, 768)
    torch.manual_seed(1)
    fbank = torch.randn(1, 990, 128)
    with torch.no_grad():
        feats = encoder.encode(fbank)
        assert feats.shape == (1, 30, 768)
        torch.testing.assert_close(feats, torchvision_features(net, fbank), rtol=1e-5, atol=1e-5)
        short = torch.randn(2, 96, 128)
        logits = encoder.classify(short)
        torch.testing.assert_close(logits, net(short.permute(0, 2, 1).unsqueeze(1)), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(encoder(short), logits)
        # the step count depends on the frames only: fewer mel bins keep this check cheap
        assert encoder.encode(torch.randn(1, 1000, 32)).shape == (1, 31, 768)
        assert encoder.encode(torch.randn(1, 990, 32)).shape == (1, 30, 768)


def test_safetensors_round_trip_keeps_weights_and_dataset(reference, tmp_path):
    encoder = AudioEncoder.from_checkpoint(reference[0]).eval()
    encoder.dataset = "audioset"
    path = encoder.save(tmp_path / "enc.safetensors")
    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata()
        assert meta["format"] == "uavm.audio_encoder" and meta["size"] == "tiny" and meta["num_classes"] == "7"
        assert "features.0.0.weight" in handle.keys()
    again = AudioEncoder.from_checkpoint(path).eval()
    assert again.dataset == "audioset" and again.norm_stats == FBANK_STATS["audioset"]
    x = torch.randn(1, 64, 128)
    with torch.no_grad():
        torch.testing.assert_close(again.encode(x), encoder.encode(x), rtol=0, atol=0)


def test_registry_downloads_once_converts_to_safetensors_and_works_offline(reference, tmp_path, monkeypatch):
    path, net = reference
    monkeypatch.setenv("UAVM_CACHE", str(tmp_path / "cache"))
    info = AUDIO_ENCODERS["audio_encoder_vggsound"]
    assert info.url.startswith("https://") and info.extract_frames == 990 and info.norm_stats == (-5.081, 4.4849)
    assert AUDIO_ENCODERS["audio_encoder_audioset"].num_classes == 527
    with serve(path.parent) as server:
        local = dataclasses.replace(info, url=f"{server.url}/{path.name}?dl=1")
        monkeypatch.setitem(AUDIO_ENCODERS, info.name, local)
        encoder = AudioEncoder.from_checkpoint("audio_encoder_vggsound")
        assert [p for p, _ in server.requests] == [path.name]
    cached = tmp_path / "cache" / "models" / "audio_encoder_vggsound.safetensors"
    assert cached.is_file() and not (tmp_path / "cache" / path.name).exists()
    assert encoder.dataset == "vggsound" and encoder.norm_stats == FBANK_STATS["vggsound"]
    again = AudioEncoder.from_checkpoint("audio_encoder_vggsound").eval()  # server gone: from the cache
    x = torch.randn(1, 160, 128)
    with torch.no_grad():
        torch.testing.assert_close(again.encode(x), torchvision_features(net, x), rtol=1e-5, atol=1e-5)


def test_from_imagenet_sums_the_rgb_stem(tmp_path, monkeypatch):
    monkeypatch.setenv("UAVM_CACHE", str(tmp_path))
    torch.manual_seed(2)
    imagenet = torchvision.models.convnext_tiny()  # stands in for the ImageNet file of the cache
    (tmp_path / "downloads").mkdir()
    torch.save(imagenet.state_dict(), tmp_path / "downloads" / filename_from_url(IMAGENET_URLS["tiny"]))
    encoder = AudioEncoder.from_imagenet("tiny", num_classes=5)
    rgb = imagenet.features[0][0].weight
    torch.testing.assert_close(encoder.features[0][0].weight, rgb.sum(dim=1, keepdim=True))
    torch.testing.assert_close(encoder.features[5][3].block[0].weight, imagenet.features[5][3].block[0].weight)
    assert encoder.classifier[2].weight.shape == (5, 768)
    # a grey image seen by the ImageNet net equals the one-channel spectrogram seen by ours (stem is linear)
    grey = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(
            encoder.features.eval()(grey),
            imagenet.features.eval()(grey.expand(1, 3, 64, 64)),
            rtol=1e-4,
            atol=1e-4,
        )


def test_bad_checkpoints_are_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        AudioEncoder.from_checkpoint(tmp_path / "missing.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pth: not a readable checkpoint"):
        AudioEncoder.from_checkpoint(junk)
    rgb = tmp_path / "rgb.pth"
    torch.save(torchvision.models.convnext_tiny(num_classes=3).state_dict(), rgb)
    with pytest.raises(CheckpointError, match="takes 3 channels"):
        AudioEncoder.from_checkpoint(rgb)
    other = tmp_path / "other.pth"
    torch.save({"a_trans.pos_embed": torch.zeros(1, 30, 8)}, other)
    with pytest.raises(CheckpointError, match="not an audio-encoder checkpoint"):
        AudioEncoder.from_checkpoint(other)


def test_random_init_and_unknown_size():
    with pytest.raises(ValueError, match="unknown ConvNeXt size"):
        AudioEncoder("huge")
    encoder = AudioEncoder("tiny", num_classes=3)
    assert encoder.features[0][0].weight.shape == (96, 1, 4, 4) and encoder.norm_stats is None
    assert encoder.feature_dim == 768 and encoder.encode(torch.randn(2, 64, 128)).shape == (2, 2, 768)
