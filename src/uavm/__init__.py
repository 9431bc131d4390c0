"""uavm: unified audio-visual models (Gong et al., UAVM, IEEE SPL 2022).

The public API is re-exported here; heavy submodules (and torch) load on first use.
"""

from __future__ import annotations

from .lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "create_model": ".models.factory",
    "list_models": ".registry",
    "load_model": ".models.factory",
    "save_model": ".models.checkpoint",
    "read_model_info": ".models.checkpoint",
    "ModelConfig": ".model_config",
    "FeatureSpec": ".feature_spec",
    "Predictor": ".predict",
    "FeatureExtractor": ".extraction.extractor",
    "extract": ".extraction.pipeline",
    "read_inputs": ".extraction.inputs",
    "FeatureStore": ".store.reader",
    "load_labels": ".data.labels",
    "evaluate": ".train.evaluate",
}

__all__ = sorted([*_EXPORTS, "train"]) + ["__version__"]  # train: the callable package uavm.train
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
