"""UAVM-family models: unified (shared upper layers), independent, cross-modal attention.

Names load on first use, so ``import uavm.models`` does not import torch until a
model class or function is used.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ARCHS": "..model_config",
    "ModelConfig": "..model_config",
    "CrossAttentionModel": "cross_attention",
    "IndependentModel": "unified",
    "UnifiedModel": "unified",
    "convert": "factory",
    "build_model": "factory",
    "create_model": "factory",
    "load_model": "factory",
    "infer_config": "checkpoint",
    "read_model_info": "checkpoint",
    "save_model": "checkpoint",
    "REGISTRY": "..registry",
    "PretrainedCfg": "..registry",
    "get_pretrained_cfg": "..registry",
    "list_models": "..registry",
}

__all__ = [  # the keys of _EXPORTS
    "ARCHS",
    "REGISTRY",
    "CrossAttentionModel",
    "IndependentModel",
    "ModelConfig",
    "PretrainedCfg",
    "UnifiedModel",
    "build_model",
    "convert",
    "create_model",
    "get_pretrained_cfg",
    "infer_config",
    "list_models",
    "load_model",
    "read_model_info",
    "save_model",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module if module.startswith("..") else f".{module}", __name__), name)
