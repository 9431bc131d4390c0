"""Reading and writing model weights: reference ``.pth`` files and our safetensors files.

Reference checkpoints are plain state_dicts saved from ``nn.DataParallel`` (keys start
with ``module.``). Their architecture and every size but ``num_heads`` are read off the
tensors; ``num_heads`` comes from the argument or from the reference run name in the
file name (``-h4-``). Our files are safetensors with the config in the metadata.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from ..atomic import atomic_path
from ..errors import CheckpointError
from ..hub import cache_dir, download, filename_from_url, resolve
from .config import ModelConfig
from .registry import PretrainedCfg, build_model

CONFIG_KEY = "uavm_config"
INFO_KEY = "uavm_info"  # JSON: how the model's inputs are made (encoders, fbank, labels, ...)
_SHOWN = 5  # how many offending keys an error message lists


def save_model(model: nn.Module, path: str | Path, info: Mapping[str, Any] | None = None) -> Path:
    """Save weights as safetensors with the model config, atomically; ``load_model`` round-trips.

    ``info`` (JSON-serialisable) records what a user of the file needs beside the weights:
    the feature extractors and fbank settings its inputs came from, the label set, ...;
    :func:`read_model_info` returns it.
    """
    path = Path(path)
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    metadata = {CONFIG_KEY: json.dumps(model.config.to_dict())}
    if info:
        metadata[INFO_KEY] = json.dumps(dict(info))
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return path


def read_model_info(path: str | Path) -> dict[str, Any]:
    """The ``info`` saved with a uavm safetensors file (empty for reference files)."""
    path = Path(path)
    if not path.is_file() or not _is_safetensors(path):
        return {}
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        return json.loads(metadata.get(INFO_KEY, "{}"))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from exc


def load_model(path: str | Path, arch: str | None = None, num_heads: int | None = None) -> nn.Module:
    """Load a reference ``.pth`` or a uavm safetensors file into the matching model (eval mode).

    ``arch`` overrides the architecture read off the keys (needed only to tell a
    cross-attention model with depth_i = 0 from a unified one when the file name does
    not say); ``num_heads`` defaults to the file name's ``-hN-`` or 4.
    """
    path = resolve(path)
    state, config = read_checkpoint(path)
    if config is None:
        try:
            config = infer_config(state, arch=arch, hint=_arch_from_name(path.name),
                                  num_heads=num_heads or _heads_from_name(path.name) or 4)
        except CheckpointError as exc:
            raise CheckpointError(f"{path}: {exc}") from None
    elif arch is not None and arch != config.arch:
        raise CheckpointError(f"{path}: holds a {config.arch} model, not {arch}")
    model = build_model(config)
    _check_keys(path, model, state)
    model.load_state_dict(state)
    return model.eval()


def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], ModelConfig | None]:
    """The state_dict (``module.`` stripped) and, for our files, the stored config."""
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    if _is_safetensors(path):
        return _read_safetensors(path)
    from ..torch_files import load_tensors_only

    obj = load_tensors_only(path)
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: not a model checkpoint (expected a state_dict of tensors)")
    return {_strip_prefix(k): v for k, v in obj.items()}, None


def _is_safetensors(path: Path) -> bool:
    if path.suffix == ".safetensors":
        return True
    with open(path, "rb") as f:
        head = f.read(9)
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < (1 << 28)


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], ModelConfig | None]:
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from exc
    config = None
    if CONFIG_KEY in metadata:
        try:
            config = ModelConfig.from_dict(json.loads(metadata[CONFIG_KEY]))
        except (ValueError, TypeError) as exc:
            raise CheckpointError(f"{path}: invalid model config in metadata ({exc})") from exc
    return {_strip_prefix(k): v for k, v in state.items()}, config


def _strip_prefix(key: str) -> str:
    return key[len("module."):] if key.startswith("module.") else key


def _arch_from_name(name: str) -> str | None:
    if "full_att" in name:
        return "cross_attention"
    if "unified_trans" in name:
        return "unified"
    return None


def _heads_from_name(name: str) -> int | None:
    match = re.search(r"-h(\d+)-", name)
    return int(match.group(1)) if match else None


def _count_blocks(state: Mapping[str, torch.Tensor], prefix: str) -> int:
    return len({k[len(prefix):].split(".")[0] for k in state if k.startswith(prefix)})


def infer_config(state: Mapping[str, torch.Tensor], arch: str | None = None, num_heads: int = 4,
                 hint: str | None = None) -> ModelConfig:
    """Read architecture and sizes off a (prefix-stripped) reference state_dict.

    The keys decide the architecture; where they cannot (a cross-attention model without
    lower stack looks like a unified one), ``arch``, then the file-name ``hint``, decide.
    """
    guess = arch or hint

    def shape(key: str) -> torch.Size:
        if key not in state:
            raise CheckpointError(f"not a UAVM checkpoint: missing key {key!r}")
        return state[key].shape

    if "a_trans.pos_embed" in state:
        _, seq_len, embed_dim = shape("a_trans.pos_embed")
        a_input_dim, v_input_dim = shape("a_trans.in_layernorm.weight")[0], shape("v_trans.in_layernorm.weight")[0]
        depth_i = _count_blocks(state, "a_trans.blocks.")
    elif "a_in_proj.1.weight" in state:
        embed_dim, a_input_dim = shape("a_in_proj.1.weight")
        v_input_dim = shape("v_in_proj.1.weight")[1]
        depth_i, seq_len = 0, None
    else:
        raise CheckpointError("not a UAVM checkpoint: neither 'a_trans.*' nor 'a_in_proj.*' keys found")

    if "a_s_trans.pos_embed" in state:
        found, upper = "independent", "a_s_trans"
    elif "s_trans.pos_embed" in state:
        upper = "s_trans"
        s_len = shape("s_trans.pos_embed")[1]
        if seq_len is None:  # no lower stack: only the name / argument can tell the arch apart
            found = guess if guess == "cross_attention" else "unified"
            seq_len = s_len // 2 if found == "cross_attention" else s_len
        else:
            found = "cross_attention" if s_len == 2 * seq_len else "unified"
    else:
        found, upper = (guess if guess in ("independent", "cross_attention") else "unified"), None

    if upper is not None:
        depth_s = _count_blocks(state, f"{upper}.blocks.")
        s_embed = shape(f"{upper}.pos_embed")[2]
        num_classes = shape(f"{upper}.mlp_head.1.weight")[0]
    else:
        depth_s, s_embed = 0, embed_dim
        num_classes = shape("a_mlp.1.weight")[0]
        if seq_len is None:
            raise CheckpointError("not a UAVM checkpoint: no Transformer blocks at all")
    if arch is not None and arch != found and not (upper is None and arch in ("unified", "independent")):
        raise CheckpointError(f"the checkpoint holds a {found} model, not {arch}")
    try:
        return ModelConfig(
            arch=found, embed_dim=int(embed_dim), num_heads=num_heads, depth_i=depth_i, depth_s=depth_s,
            num_classes=int(num_classes), seq_len=int(seq_len), a_input_dim=int(a_input_dim),
            v_input_dim=int(v_input_dim), s_embed_dim=0 if s_embed == embed_dim else int(s_embed),
        )
    except ValueError as exc:
        raise CheckpointError(f"inconsistent checkpoint sizes: {exc}") from exc


def _check_keys(path: Path, model: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    misshaped = sorted(
        f"{k} {list(state[k].shape)} (expected {list(expected[k].shape)})"
        for k in set(expected) & set(state)
        if state[k].shape != expected[k].shape
    )
    problems = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)):
        if keys:
            more = f" and {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else ""
            problems.append(f"{label} keys: {', '.join(keys[:_SHOWN])}{more}")
    if problems:
        raise CheckpointError(f"{path}: not a valid {model.config.arch} checkpoint; " + "; ".join(problems))


def convert(src: str | Path, dest: str | Path, arch: str | None = None, num_heads: int | None = None) -> Path:
    """Convert a reference ``.pth`` (or any loadable checkpoint) to a uavm safetensors file."""
    return save_model(load_model(src, arch=arch, num_heads=num_heads), dest)


def pretrained_path(entry: PretrainedCfg) -> Path:
    """Local safetensors file of a registered model: downloaded and converted once, then cached."""
    target = cache_dir() / "models" / f"{entry.name}.safetensors"
    if target.exists():
        return target
    name = filename_from_url(entry.url)
    pth = download(entry.url, cache_dir() / "downloads" / name)
    convert(pth, target, arch=entry.config.arch, num_heads=entry.config.num_heads)
    pth.unlink()
    return target
