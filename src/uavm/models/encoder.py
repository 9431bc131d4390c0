"""One stack of Transformer blocks over a feature sequence (the reference's ``SingleTrans``)."""

from __future__ import annotations

import torch
from torch import nn

from .layers import Block


class SequenceEncoder(nn.Module):
    """Input LayerNorm (+ projection when dims differ) + positional embedding, blocks, time-mean head.

    ``in_proj`` exists even when unused so that reference checkpoints load as they are.
    """

    def __init__(self, input_dim: int, embed_dim: int, depth: int, num_heads: int, num_classes: int, seq_len: int):
        super().__init__()
        self.input_dim, self.embed_dim, self.seq_len = input_dim, embed_dim, seq_len
        self.blocks = nn.ModuleList([Block(embed_dim, num_heads) for _ in range(depth)])
        self.pos_embed = nn.Parameter(torch.zeros(1, seq_len, embed_dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.in_layernorm = nn.LayerNorm(input_dim, eps=1e-6)
        self.in_proj = nn.Linear(input_dim, embed_dim)
        self.mlp_head = nn.Sequential(nn.LayerNorm(embed_dim, eps=1e-6), nn.Linear(embed_dim, num_classes))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The stack's input: LayerNorm, projection if dims differ, plus positional embedding."""
        if x.dim() == 3 and x.shape[1] == self.seq_len and x.shape[2] != self.input_dim:
            raise ValueError(
                f"expected features of width {self.input_dim}, got {x.shape[2]} (input {list(x.shape)}): the features "
                "were made with other encoders than the model was trained on"
            )
        if x.shape[1] != self.seq_len or x.shape[2] != self.input_dim:
            raise ValueError(
                f"expected input [batch, {self.seq_len}, {self.input_dim}], got {list(x.shape)}; "
                "pad or cut sequences to the model's seq_len first"
            )
        x = self.in_layernorm(x)
        if self.input_dim != self.embed_dim:
            x = self.in_proj(x)
        return x + self.pos_embed

    def head(self, sequence: torch.Tensor) -> torch.Tensor:
        """Logits from the time-mean of a block output."""
        return self.mlp_head(sequence.mean(dim=1))

    def forward(self, x: torch.Tensor, return_sequence: bool = False) -> torch.Tensor:
        x = self.embed(x)
        for block in self.blocks:
            x = block(x)
        return x if return_sequence else self.head(x)

    def trace(self, x: torch.Tensor, tracer: LayerTracer) -> torch.Tensor | None:
        """Run the stack, recording layer outputs / attention in ``tracer``; None once it has enough."""
        x = self.embed(x)
        if not tracer.outputs:
            if tracer.record(x):
                return None
        for block in self.blocks:
            x = tracer.run_block(block, x)
            if tracer.record(x):
                return None
        return x


class LayerTracer:
    """Collects layer outputs (layer 0 = the embedded input, then one per block, last = logits; see docs/architecture.md) and attention maps while a model runs.

    ``upto`` stops the run once layer ``upto`` is recorded (None: run everything).
    ``pre_norm`` records the reference's defective maps computed without ``norm1``.
    """

    def __init__(self, upto: int | None = None, attention: bool = False, pre_norm: bool = False):
        self.upto, self.attention, self.pre_norm = upto, attention, pre_norm
        self.outputs: list[torch.Tensor] = []
        self.maps: list[torch.Tensor] = []

    def record(self, x: torch.Tensor) -> bool:
        """Keep ``x`` as the next layer's output; True when the requested layer is reached."""
        self.outputs.append(x)
        return self.upto is not None and len(self.outputs) > self.upto

    def run_block(self, block: Block, x: torch.Tensor) -> torch.Tensor:
        if not self.attention:
            return block(x)
        if self.pre_norm:
            self.maps.append(block.attn.probabilities(x))
            return block(x)
        x, attn = block(x, return_attention=True)
        self.maps.append(attn)
        return x
