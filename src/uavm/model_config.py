"""The configuration that fully determines a model's architecture and sizes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

ARCHS = ("unified", "independent", "cross_attention")


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of a UAVM-family model; every field but ``arch`` has the paper's default.

    ``depth_i`` counts the modality-specific (lower) blocks, ``depth_s`` the upper
    ones; ``s_embed_dim == 0`` means the upper stack is as wide as the lower one.
    """

    arch: str = "unified"
    embed_dim: int = 1024
    num_heads: int = 4
    depth_i: int = 3
    depth_s: int = 3
    num_classes: int = 309
    seq_len: int = 30
    a_input_dim: int = 1024
    v_input_dim: int = 1024
    s_embed_dim: int = 0

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"unknown architecture {self.arch!r}; choose one of {', '.join(ARCHS)}")
        for name in ("embed_dim", "num_heads", "num_classes", "seq_len", "a_input_dim", "v_input_dim"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.depth_i < 0 or self.depth_s < 0:
            raise ValueError("depth_i and depth_s must be >= 0")
        if self.depth_i == 0 and self.depth_s == 0:
            raise ValueError("a model needs at least one block: depth_i + depth_s > 0")
        for name in ("embed_dim", "upper_dim"):
            if getattr(self, name) % self.num_heads:
                raise ValueError(f"{name}={getattr(self, name)} is not divisible by num_heads={self.num_heads}")

    @property
    def upper_dim(self) -> int:
        """Width of the upper (shared / joint) stack."""
        return self.s_embed_dim or self.embed_dim

    @property
    def num_layers(self) -> int:
        """Index of the logits in layer numbering: ``depth_i + depth_s + 1``."""
        return self.depth_i + self.depth_s + 1

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown model config keys: {', '.join(unknown)}")
        return cls(**values)

    def replace(self, **changes: Any) -> ModelConfig:
        return dataclasses.replace(self, **changes)
