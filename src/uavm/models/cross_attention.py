"""The cross-modal attention (early fusion) baseline: one joint upper stack over [audio; visual]."""

from __future__ import annotations

import torch

from ..modality import modality_key
from ..model_config import ModelConfig
from .base import LowerStacks, check_layer
from .encoder import LayerTracer, SequenceEncoder


class CrossAttentionModel(LowerStacks):
    """Per-modality lower stacks, then the two sequences concatenated in time (audio first, length
    2T) go through ONE upper stack that always sees both: ``model(a, v)`` → logits.

    With ``depth_s = 0`` there is no joint stack; the logits are then the mean of the two
    modality heads' logits (the reference returned the raw sequence there).
    """

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        c = config
        if c.depth_s:
            self.s_trans = SequenceEncoder(
                c.embed_dim, c.upper_dim, c.depth_s, c.num_heads, c.num_classes, 2 * c.seq_len
            )

    def _fuse(self, a_seq: torch.Tensor, v_seq: torch.Tensor) -> torch.Tensor:
        if self.config.depth_s:
            return self.s_trans(torch.cat((a_seq, v_seq), dim=1))
        return (self.modality_head(a_seq, "a") + self.modality_head(v_seq, "v")) / 2

    def forward(self, a: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, num_classes]`` from audio ``a`` and visual ``v`` features ``[B, T, D]``."""
        return self._fuse(self.lower_sequence(a, "a"), self.lower_sequence(v, "v"))

    def layer_output(self, x: torch.Tensor, modality: str, layer: int) -> torch.Tensor:
        """Output of a modality-specific ``layer`` (0..depth_i) for one modality's features.

        Layers above depth_i see both modalities: use :meth:`joint_layer_output`.
        With depth_i = 0, layer 0 is the modality's input projection.
        """
        m = modality_key(modality)
        if not 0 <= layer <= self.config.depth_i:
            raise ValueError(
                f"layer {layer} is not modality-specific (0..{self.config.depth_i}); "
                "use joint_layer_output(a, v, layer) for the joint layers"
            )
        tracer = LayerTracer(upto=layer)
        sequence = self.trace_lower(x, m, tracer)
        return tracer.outputs[layer] if self.config.depth_i else sequence

    def _trace(self, a: torch.Tensor, v: torch.Tensor, tracer: LayerTracer) -> tuple[LayerTracer, LayerTracer]:
        """Trace both lower stacks fully, then the joint stack into ``tracer``.

        Joint layers 0..depth_i are the two modalities' layer outputs concatenated in time.
        """
        traces = [LayerTracer(attention=tracer.attention, pre_norm=tracer.pre_norm) for _ in "av"]
        a_seq = self.trace_lower(a, "a", traces[0])
        v_seq = self.trace_lower(v, "v", traces[1])
        for a_out, v_out in zip(traces[0].outputs, traces[1].outputs):
            if tracer.record(torch.cat((a_out, v_out), dim=1)):
                return traces[0], traces[1]
        if self.config.depth_s:
            sequence = self.s_trans.trace(torch.cat((a_seq, v_seq), dim=1), tracer)
            if sequence is not None:
                tracer.record(self.s_trans.head(sequence))
        else:
            tracer.record(self._fuse(a_seq, v_seq))
        return traces[0], traces[1]

    def joint_layer_output(self, a: torch.Tensor, v: torch.Tensor, layer: int) -> torch.Tensor:
        """Joint sequence ``[B, 2T, D]`` at ``layer`` (logits at ``num_layers``)."""
        check_layer(layer, self.num_layers)
        tracer = LayerTracer(upto=layer)
        self._trace(a, v, tracer)
        return tracer.outputs[layer]

    def attention_maps(
        self, a: torch.Tensor, v: torch.Tensor, pre_norm: bool = False
    ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
        """(audio lower maps, visual lower maps, joint maps ``[B, heads, 2T, 2T]``), bottom to top."""
        joint = LayerTracer(attention=True, pre_norm=pre_norm)
        a_trace, v_trace = self._trace(a, v, joint)
        return a_trace.maps, v_trace.maps, joint.maps
