"""``uavm models``, ``uavm info`` and ``uavm convert`` as a user runs them (real processes)."""

from __future__ import annotations

import json
import subprocess
import sys

import torch

from helpers import reference_uavm as ref


def uavm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "uavm", *args], capture_output=True, text=True, timeout=120)


def test_models_table_and_json():
    out = uavm("models")
    assert out.returncode == 0 and "uavm_vggsound" in out.stdout and "cross_attention_audioset" in out.stdout
    entries = json.loads(uavm("models", "--json").stdout)
    assert {e["name"] for e in entries} >= {"uavm_vggsound", "independent_audioset"}


def test_info_and_convert(tmp_path):
    sd = ref.reference_state_dict("unified", 32, 2, 1, 2, 9, 6, 12, 10)
    src = tmp_path / "run-h2-di1-ds2-x.pth"
    torch.save({f"module.{k}": v for k, v in sd.items()}, src)
    info = json.loads(uavm("info", str(src), "--json").stdout)
    assert (info["arch"], info["depth_i"], info["depth_s"], info["num_heads"]) == ("unified", 1, 2, 2)
    assert info["parameters"] == sum(v.numel() for v in sd.values())
    out = uavm("convert", str(src), str(tmp_path / "m.safetensors"))
    assert out.returncode == 0, out.stderr
    assert json.loads(uavm("info", str(tmp_path / "m.safetensors"), "--json").stdout)["depth_s"] == 2


def test_bad_checkpoint_is_one_line_error(tmp_path):
    bad = tmp_path / "notes.pth"
    bad.write_text("not a checkpoint")
    out = uavm("info", str(bad))
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and "Traceback" not in out.stderr


def test_models_lists_encoders_too():
    out = uavm("models", "--encoders")
    assert out.returncode == 0, out.stderr
    assert "audio_encoder_vggsound" in out.stdout and "convnext_base_imagenet" in out.stdout
    assert "uavm_vggsound" not in out.stdout
    entries = {e["name"]: e for e in json.loads(uavm("models", "--encoders", "--json").stdout)}
    assert entries["audio_encoder_audioset"]["audio_fbank"]["target_frames"] == 1000
    assert entries["convnext_tiny_imagenet"]["kind"] == "visual_encoder"
