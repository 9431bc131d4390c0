"""UAVM-family models: unified (shared upper layers), independent, cross-modal attention."""

from .checkpoint import convert, infer_config, load_model, read_model_info, save_model
from .config import ARCHS, ModelConfig
from .cross_attention import CrossAttentionModel
from .registry import REGISTRY, PretrainedCfg, build_model, create_model, get_pretrained_cfg, list_models
from .unified import IndependentModel, UnifiedModel

__all__ = [
    "ARCHS", "REGISTRY", "CrossAttentionModel", "IndependentModel", "ModelConfig", "PretrainedCfg",
    "UnifiedModel", "build_model", "convert", "create_model", "get_pretrained_cfg", "infer_config",
    "list_models", "load_model", "read_model_info", "save_model",
]
