"""The uavm model file format, and reading reference ``.pth`` files as models.

Reference checkpoints are plain state_dicts saved from ``nn.DataParallel`` (keys start
with ``module.``). Their architecture and every size but ``num_heads`` are read off the
tensors; ``num_heads`` comes from the argument or from the reference run name in the
file name (``-h4-``). Our files are safetensors with the config in the metadata.
Reading and writing the files themselves is :mod:`uavm.weights`; building models
from them is :mod:`uavm.models.factory`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import CheckpointError
from ..model_config import ModelConfig
from ..weights import read_metadata, read_weights, save_weights

CONFIG_KEY = "uavm_config"
INFO_KEY = "uavm_info"  # JSON: how the model's inputs are made (encoders, fbank, labels, ...)
_SHOWN = 5  # how many offending keys an error message lists


def save_model(model: nn.Module, path: str | Path, info: Mapping[str, Any] | None = None) -> Path:
    """Save weights as safetensors with the model config, atomically; ``load_model`` round-trips.

    ``info`` (JSON-serialisable) records what a user of the file needs beside the weights:
    the feature extractors and fbank settings its inputs came from, the label set, ...;
    :func:`read_model_info` returns it.
    """
    metadata = {CONFIG_KEY: json.dumps(model.config.to_dict())}
    if info:
        metadata[INFO_KEY] = json.dumps(dict(info))
    return save_weights(path, model.state_dict(), metadata)


def read_model_info(path: str | Path) -> dict[str, Any]:
    """The ``info`` saved with a uavm safetensors file (empty for reference files)."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        return json.loads(read_metadata(path).get(INFO_KEY, "{}"))
    except ValueError as exc:
        raise CheckpointError(f"{path}: invalid model info in metadata ({exc})") from exc


def read_checkpoint(
    path: Path, arch: str | None = None, num_heads: int | None = None
) -> tuple[dict[str, torch.Tensor], ModelConfig]:
    """The state_dict (``module.`` stripped) and config of a uavm or reference file.

    Our files carry their config; a reference file's is read off its keys (see
    :func:`infer_config`), ``num_heads`` defaulting to the file name's ``-hN-`` or 4.
    """
    state, metadata = read_weights(path)
    if CONFIG_KEY in metadata:
        try:
            config = ModelConfig.from_dict(json.loads(metadata[CONFIG_KEY]))
        except (ValueError, TypeError) as exc:
            raise CheckpointError(f"{path}: invalid model config in metadata ({exc})") from exc
        if arch is not None and arch != config.arch:
            raise CheckpointError(f"{path}: holds a {config.arch} model, not {arch}")
        return state, config
    try:
        config = infer_config(
            state, arch=arch, hint=_arch_from_name(path.name), num_heads=num_heads or _heads_from_name(path.name) or 4
        )
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    return state, config


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
    return len({k[len(prefix) :].split(".")[0] for k in state if k.startswith(prefix)})


def infer_config(
    state: Mapping[str, torch.Tensor], arch: str | None = None, num_heads: int = 4, hint: str | None = None
) -> ModelConfig:
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
            arch=found,
            embed_dim=int(embed_dim),
            num_heads=num_heads,
            depth_i=depth_i,
            depth_s=depth_s,
            num_classes=int(num_classes),
            seq_len=int(seq_len),
            a_input_dim=int(a_input_dim),
            v_input_dim=int(v_input_dim),
            s_embed_dim=0 if s_embed == embed_dim else int(s_embed),
        )
    except ValueError as exc:
        raise CheckpointError(f"inconsistent checkpoint sizes: {exc}") from exc


def check_keys(path: Path, model: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """A one-line error naming the first missing, unexpected and mis-shaped keys, if any."""
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
