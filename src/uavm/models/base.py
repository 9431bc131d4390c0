"""What the three architectures share: modality-specific lower stacks and per-modality heads."""

from __future__ import annotations

import torch
from torch import nn

from ..modality import MODALITIES
from ..model_config import ModelConfig
from .encoder import LayerTracer, SequenceEncoder


class LowerStacks(nn.Module):
    """Per-modality lower part: ``a_trans``/``v_trans`` (depth_i > 0) or ``a_in_proj``/``v_in_proj``,
    and, for models without an upper stack, the heads ``a_mlp``/``v_mlp``.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        c = config
        for m, input_dim in (("a", c.a_input_dim), ("v", c.v_input_dim)):
            if c.depth_i:
                stack = SequenceEncoder(input_dim, c.embed_dim, c.depth_i, c.num_heads, c.num_classes, c.seq_len)
                setattr(self, f"{m}_trans", stack)
            else:
                proj = nn.Sequential(nn.LayerNorm(input_dim, eps=1e-6), nn.Linear(input_dim, c.embed_dim))
                setattr(self, f"{m}_in_proj", proj)
        if not c.depth_s:
            for m in MODALITIES:
                head = nn.Sequential(nn.LayerNorm(c.embed_dim, eps=1e-6), nn.Linear(c.embed_dim, c.num_classes))
                setattr(self, f"{m}_mlp", head)

    @property
    def num_layers(self) -> int:
        """Index of the logits in layer numbering."""
        return self.config.num_layers

    def lower_sequence(self, x: torch.Tensor, modality: str) -> torch.Tensor:
        """Output sequence of the modality-specific part ``[B, T, embed_dim]``."""
        if self.config.depth_i:
            return getattr(self, f"{modality}_trans")(x, return_sequence=True)
        return getattr(self, f"{modality}_in_proj")(x)

    def trace_lower(self, x: torch.Tensor, modality: str, tracer: LayerTracer) -> torch.Tensor | None:
        """``lower_sequence`` that records layers in ``tracer``; None once the tracer has enough."""
        if self.config.depth_i:
            return getattr(self, f"{modality}_trans").trace(x, tracer)
        return getattr(self, f"{modality}_in_proj")(x)

    def modality_head(self, sequence: torch.Tensor, modality: str) -> torch.Tensor:
        """Logits of a model without upper stack: the modality's own head on the time-mean."""
        return getattr(self, f"{modality}_mlp")(sequence.mean(dim=1))

    def set_fused_attention(self, enabled: bool) -> None:
        """Use ``scaled_dot_product_attention`` (True, default) or explicit softmax attention."""
        for module in self.modules():
            if hasattr(module, "fused"):
                module.fused = enabled


def check_layer(layer: int, num_layers: int) -> int:
    if not 0 <= layer <= num_layers:
        raise ValueError(f"layer must be in 0..{num_layers} (the logits), got {layer}")
    return layer
