"""Loading reference checkpoints and our safetensors files; clear errors for everything else."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from helpers import reference_uavm as ref
from uavm import load_model, save_model
from uavm.errors import CheckpointError
from uavm.models import convert

RUN = "testfm66-vgg-{arch}-lr5e-5-bs-144-e32-se32-h{h}-di{di}-ds{ds}-asl6-vsl6-r1.pth"


def _reference_file(tmp_path, arch="unified", di=2, ds=1, heads=2, a_dim=12, v_dim=10, s_embed=0, name=None):
    sd = ref.reference_state_dict(arch, 32, heads, di, ds, 9, 6, a_dim, v_dim, s_embed)
    path = tmp_path / (
        name or RUN.format(arch={"cross_attention": "full_att_trans"}.get(arch, "unified_trans"), h=heads, di=di, ds=ds)
    )
    torch.save({f"module.{k}": v for k, v in sd.items()}, path)  # as saved from nn.DataParallel
    return path, sd


@pytest.mark.parametrize(
    "arch,di,ds,s_embed",
    [
        ("unified", 2, 1, 0),
        ("unified", 0, 2, 48),
        ("unified", 3, 0, 0),
        ("independent", 1, 2, 0),
        ("cross_attention", 2, 1, 0),
        ("cross_attention", 0, 2, 0),
    ],
)
def test_reference_checkpoint_loads_and_matches(tmp_path, arch, di, ds, s_embed):
    path, sd = _reference_file(tmp_path, arch, di, ds, s_embed=s_embed)
    model = load_model(path)  # heads from the run name (-h2-), arch from the keys / name
    c = model.config
    assert (c.arch, c.depth_i, c.depth_s, c.num_heads, c.embed_dim, c.num_classes, c.seq_len) == (
        arch,
        di,
        ds,
        2,
        32,
        9,
        6,
    )
    assert (c.a_input_dim, c.v_input_dim, c.upper_dim) == (12, 10, s_embed or 32)
    g = torch.Generator().manual_seed(3)
    a, v = torch.randn(2, 6, 12, generator=g), torch.randn(2, 6, 10, generator=g)
    sd64 = {k: t.double() for k, t in sd.items()}
    with torch.no_grad():
        if arch == "cross_attention":
            expected = ref.cross(sd64, a.double(), v.double(), 2)[-1]
            got = model(a, v)
        else:
            upper = None if not ds else ("a_s_trans" if arch == "independent" else "s_trans")
            expected = ref.one_modality(sd64, "a", a.double(), 2, upper)[0][-1]
            got = model(a, "a")
    torch.testing.assert_close(got.double(), expected, rtol=1e-4, atol=1e-4)


def test_num_heads_argument_and_default(tmp_path):
    path, _ = _reference_file(tmp_path, heads=4, name="plain.pth")
    assert load_model(path).config.num_heads == 4  # no run name: the paper's 4
    assert load_model(path, num_heads=8).config.num_heads == 8


def test_safetensors_round_trip_and_convert(tmp_path):
    path, _ = _reference_file(tmp_path, "independent", 1, 1)
    model = load_model(path)
    out = convert(path, tmp_path / "m.safetensors")
    again = load_model(out)
    assert again.config == model.config
    x = torch.randn(2, 6, 12)
    with torch.no_grad():
        torch.testing.assert_close(again(x, "a"), model(x, "a"), rtol=0, atol=0)
    save_model(again, tmp_path / "n.safetensors")
    assert load_model(tmp_path / "n.safetensors").config == model.config


def test_truncated_file(tmp_path):
    path, _ = _reference_file(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated") as info:
        load_model(path)
    assert str(path) in str(info.value)


def test_truncated_safetensors(tmp_path):
    path, _ = _reference_file(tmp_path)
    out = convert(path, tmp_path / "m.safetensors")
    out.write_bytes(out.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="safetensors"):
        load_model(out)


def test_not_a_checkpoint_pickle(tmp_path):
    path = tmp_path / "numbers.pth"
    torch.save([1, 2, 3], path)
    with pytest.raises(CheckpointError, match="state_dict"):
        load_model(path)
    other = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(2, 3)}, other)
    with pytest.raises(CheckpointError, match=r"resnet\.pth: not a UAVM checkpoint"):
        load_model(other)


def test_missing_block_is_named(tmp_path):
    path, sd = _reference_file(tmp_path, di=2, ds=2)
    broken = {f"module.{k}": v for k, v in sd.items() if not k.startswith("s_trans.blocks.1.attn")}
    torch.save(broken, path)
    with pytest.raises(CheckpointError, match=r"missing keys: s_trans\.blocks\.1\.attn"):
        load_model(path)


def test_misshaped_and_unexpected_keys_are_named(tmp_path):
    path, sd = _reference_file(tmp_path)
    sd = dict(sd)
    sd["a_trans.blocks.0.mlp.fc1.bias"] = torch.zeros(5)
    sd["extra.weight"] = torch.zeros(1)
    torch.save(sd, path)
    with pytest.raises(CheckpointError) as info:
        load_model(path)
    message = str(info.value)
    assert "mis-shaped keys: a_trans.blocks.0.mlp.fc1.bias [5]" in message
    assert "unexpected keys: extra.weight" in message


class _Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {_Exploit.marker}",))


def test_code_executing_pickle_is_refused(tmp_path):
    _Exploit.marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"a_trans.pos_embed": _Exploit()}, f)
    with pytest.raises(CheckpointError, match="refused|not a checkpoint"):
        load_model(path)
    torch.save({"x": _Exploit()}, tmp_path / "evil2.pth")
    with pytest.raises(CheckpointError, match="refused"):
        load_model(tmp_path / "evil2.pth")
    assert not _Exploit.marker.exists()


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        load_model(tmp_path / "nope.pth")


def test_info_travels_with_our_files(tmp_path):
    from uavm.models import read_model_info

    path, _ = _reference_file(tmp_path)
    assert read_model_info(path) == {}
    info = {"audio_encoder": "random:tiny:0", "labels": "vggsound", "audio_fbank": {"target_frames": 400}}
    out = save_model(load_model(path), tmp_path / "m.safetensors", info=info)
    assert read_model_info(out) == info
    assert load_model(out).config.depth_i == 2
