"""UAVM-family models: unified (shared upper layers), independent, cross-modal attention.

Names load on first use, so ``import uavm.models`` does not import torch until a
model class or function is used.
"""

from __future__ import annotations

from ..lazy import lazy_exports

_EXPORTS = {
    "ARCHS": "..model_config",
    "ModelConfig": "..model_config",
    "CrossAttentionModel": ".cross_attention",
    "IndependentModel": ".unified",
    "UnifiedModel": ".unified",
    "convert": ".factory",
    "build_model": ".factory",
    "create_model": ".factory",
    "load_model": ".factory",
    "infer_config": ".checkpoint",
    "read_model_info": ".checkpoint",
    "save_model": ".checkpoint",
    "REGISTRY": "..registry",
    "PretrainedCfg": "..registry",
    "get_pretrained_cfg": "..registry",
    "list_models": "..registry",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
