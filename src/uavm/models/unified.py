"""The unified model (UAVM: upper stack shared by audio and video) and the independent baseline."""

from __future__ import annotations

import torch

from ..modality import MODALITIES, modality_key
from ..model_config import ModelConfig
from .base import LowerStacks, check_layer
from .encoder import LayerTracer, SequenceEncoder


class _OneModalityModel(LowerStacks):
    """A model called with one modality at a time: ``model(x, "a")`` or ``model(x, "v")``."""

    def upper(self, modality: str) -> SequenceEncoder | None:
        """The upper stack that ``modality`` goes through (None when depth_s = 0)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, modality: str) -> torch.Tensor:
        """Logits ``[B, num_classes]`` for features ``x`` ``[B, T, D]`` of one modality."""
        m = modality_key(modality)
        sequence = self.lower_sequence(x, m)
        upper = self.upper(m)
        return upper(sequence) if upper is not None else self.modality_head(sequence, m)

    def _trace(self, x: torch.Tensor, modality: str, tracer: LayerTracer) -> LayerTracer:
        m = modality_key(modality)
        sequence = self.trace_lower(x, m, tracer)
        if sequence is None:
            return tracer
        upper = self.upper(m)
        if upper is not None:
            sequence = upper.trace(sequence, tracer)
            if sequence is None:
                return tracer
            tracer.record(upper.head(sequence))
        else:
            tracer.record(self.modality_head(sequence, m))
        return tracer

    def layer_output(self, x: torch.Tensor, modality: str, layer: int) -> torch.Tensor:
        """Output of ``layer`` (0 = embedded input, k = k-th block, ``num_layers`` = logits)."""
        check_layer(layer, self.num_layers)
        return self._trace(x, modality, LayerTracer(upto=layer)).outputs[layer]

    def layer_outputs(self, x: torch.Tensor, modality: str) -> list[torch.Tensor]:
        """Every layer's output in one pass: ``[layer 0, ..., logits]``."""
        return self._trace(x, modality, LayerTracer()).outputs

    def attention_maps(self, x: torch.Tensor, modality: str, pre_norm: bool = False) -> list[torch.Tensor]:
        """Attention probabilities ``[B, heads, T, T]`` of every block traversed, bottom to top.

        ``pre_norm=True`` gives the reference analysis' maps, computed without ``norm1``
        (a defect of the reference analysis, see docs/reference.md); they are not the maps the model uses.
        """
        return self._trace(x, modality, LayerTracer(attention=True, pre_norm=pre_norm)).maps


class UnifiedModel(_OneModalityModel):
    """UAVM: modality-specific lower stacks, ONE upper stack and head shared by both modalities."""

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        c = config
        if c.depth_s:
            self.s_trans = SequenceEncoder(c.embed_dim, c.upper_dim, c.depth_s, c.num_heads, c.num_classes, c.seq_len)

    def upper(self, modality: str) -> SequenceEncoder | None:
        return self.s_trans if self.config.depth_s else None


class IndependentModel(_OneModalityModel):
    """Baseline without weight sharing: the upper stack is duplicated per modality."""

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        c = config
        if c.depth_s:
            for m in MODALITIES:
                stack = SequenceEncoder(c.embed_dim, c.upper_dim, c.depth_s, c.num_heads, c.num_classes, c.seq_len)
                setattr(self, f"{m}_s_trans", stack)

    def upper(self, modality: str) -> SequenceEncoder | None:
        return getattr(self, f"{modality}_s_trans") if self.config.depth_s else None
