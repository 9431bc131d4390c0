"""uavm: unified audio-visual models (Gong et al., UAVM, IEEE SPL 2022).

The public API is re-exported here; heavy submodules load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "create_model": "uavm.models.factory",
    "list_models": "uavm.registry",
    "load_model": "uavm.models.factory",
    "save_model": "uavm.models.checkpoint",
    "ModelConfig": "uavm.model_config",
    "Predictor": "uavm.predict",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'uavm' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
