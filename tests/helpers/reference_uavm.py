"""A small, independent float64 implementation of the reference models, written from SPEC §2.

It works on a raw state_dict with the reference's parameter names, so it shares no code
with uavm.models: explicit LayerNorm, erf GELU, softmax attention and loops over blocks.
"""

from __future__ import annotations

import math

import torch

Tensor = torch.Tensor


def layer_norm(x: Tensor, w: Tensor, b: Tensor, eps: float) -> Tensor:
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * w + b


def linear(x: Tensor, sd: dict, name: str) -> Tensor:
    out = x @ sd[f"{name}.weight"].T
    return out + sd[f"{name}.bias"] if f"{name}.bias" in sd else out


def gelu(x: Tensor) -> Tensor:
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def block(sd: dict, p: str, x: Tensor, heads: int) -> tuple[Tensor, Tensor]:
    h = layer_norm(x, sd[f"{p}.norm1.weight"], sd[f"{p}.norm1.bias"], 1e-5)
    B, T, C = h.shape
    d = C // heads
    qkv = h @ sd[f"{p}.attn.qkv.weight"].T  # no bias
    q, k, v = qkv[..., :C], qkv[..., C : 2 * C], qkv[..., 2 * C :]
    att = torch.zeros(B, heads, T, T, dtype=x.dtype)
    out = torch.zeros(B, T, C, dtype=x.dtype)
    for hd in range(heads):
        sl = slice(hd * d, (hd + 1) * d)
        scores = (q[..., sl] @ k[..., sl].transpose(1, 2)) / math.sqrt(d)
        e = torch.exp(scores - scores.max(-1, keepdim=True).values)
        a = e / e.sum(-1, keepdim=True)
        att[:, hd] = a
        out[..., sl] = a @ v[..., sl]
    x = x + linear(out, sd, f"{p}.attn.proj")
    h2 = layer_norm(x, sd[f"{p}.norm2.weight"], sd[f"{p}.norm2.bias"], 1e-5)
    x = x + linear(gelu(linear(h2, sd, f"{p}.mlp.fc1")), sd, f"{p}.mlp.fc2")
    return x, att


def stack(sd: dict, p: str, x: Tensor, heads: int, layers: list, maps: list) -> Tensor:
    """Run one SingleTrans stack; append layer outputs (embed only if ``layers`` is empty) and maps."""
    x = layer_norm(x, sd[f"{p}.in_layernorm.weight"], sd[f"{p}.in_layernorm.bias"], 1e-6)
    if x.shape[-1] != sd[f"{p}.pos_embed"].shape[-1]:
        x = linear(x, sd, f"{p}.in_proj")
    x = x + sd[f"{p}.pos_embed"]
    if not layers:
        layers.append(x)
    n = len({k.split(".")[2] for k in sd if k.startswith(f"{p}.blocks.")})
    for i in range(n):
        x, a = block(sd, f"{p}.blocks.{i}", x, heads)
        layers.append(x)
        maps.append(a)
    return x


def head(sd: dict, name: str, seq: Tensor) -> Tensor:
    pooled = seq.mean(1)
    pooled = layer_norm(pooled, sd[f"{name}.0.weight"], sd[f"{name}.0.bias"], 1e-6)
    return linear(pooled, sd, f"{name}.1")


def lower(sd: dict, m: str, x: Tensor, heads: int, layers: list, maps: list) -> Tensor:
    if f"{m}_trans.pos_embed" in sd:
        return stack(sd, f"{m}_trans", x, heads, layers, maps)
    x = layer_norm(x, sd[f"{m}_in_proj.0.weight"], sd[f"{m}_in_proj.0.bias"], 1e-6)
    return linear(x, sd, f"{m}_in_proj.1")


def one_modality(sd: dict, m: str, x: Tensor, heads: int, upper: str | None) -> tuple[list, list]:
    """Unified (upper='s_trans') / independent (upper=f'{m}_s_trans') / no upper (None):
    (layer outputs with logits last, attention maps)."""
    layers, maps = [], []
    seq = lower(sd, m, x, heads, layers, maps)
    if upper is not None:
        seq = stack(sd, upper, seq, heads, layers, maps)
        layers.append(head(sd, f"{upper}.mlp_head", seq))
    else:
        layers.append(head(sd, f"{m}_mlp", seq))
    return layers, maps


def cross(sd: dict, a: Tensor, v: Tensor, heads: int) -> tuple[list, list, list, list, Tensor]:
    """Cross-attention: (audio layers, visual layers, audio maps, visual maps, joint maps, logits)."""
    la, ma, lv, mv = [], [], [], []
    sa = lower(sd, "a", a, heads, la, ma)
    sv = lower(sd, "v", v, heads, lv, mv)
    joint_layers, joint_maps = [], []
    if "s_trans.pos_embed" in sd:
        seq = stack(sd, "s_trans", torch.cat([sa, sv], 1), heads, joint_layers, joint_maps)
        logits = head(sd, "s_trans.mlp_head", seq)
    else:
        logits = (head(sd, "a_mlp", sa) + head(sd, "v_mlp", sv)) / 2
    return la, lv, ma, mv, joint_layers, joint_maps, logits


def reference_state_dict(
    arch: str,
    embed: int,
    heads: int,
    di: int,
    ds: int,
    classes: int,
    seq: int,
    a_dim: int,
    v_dim: int,
    s_embed: int = 0,
    seed: int = 0,
) -> dict[str, Tensor]:
    """Random weights under the reference's parameter names (as the released .pth files hold)."""
    g = torch.Generator().manual_seed(seed)
    sd: dict[str, Tensor] = {}
    s_embed = s_embed or embed

    def rnd(*shape):
        return torch.randn(*shape, generator=g) * 0.3

    def add_stack(p, in_dim, dim, depth, length):
        sd[f"{p}.pos_embed"] = rnd(1, length, dim)
        sd[f"{p}.in_layernorm.weight"] = 1 + rnd(in_dim)
        sd[f"{p}.in_layernorm.bias"] = rnd(in_dim)
        sd[f"{p}.in_proj.weight"] = rnd(dim, in_dim)
        sd[f"{p}.in_proj.bias"] = rnd(dim)
        sd[f"{p}.mlp_head.0.weight"] = 1 + rnd(dim)
        sd[f"{p}.mlp_head.0.bias"] = rnd(dim)
        sd[f"{p}.mlp_head.1.weight"] = rnd(classes, dim)
        sd[f"{p}.mlp_head.1.bias"] = rnd(classes)
        for i in range(depth):
            b = f"{p}.blocks.{i}"
            sd[f"{b}.norm1.weight"], sd[f"{b}.norm1.bias"] = 1 + rnd(dim), rnd(dim)
            sd[f"{b}.attn.qkv.weight"] = rnd(3 * dim, dim)
            sd[f"{b}.attn.proj.weight"], sd[f"{b}.attn.proj.bias"] = rnd(dim, dim), rnd(dim)
            sd[f"{b}.norm2.weight"], sd[f"{b}.norm2.bias"] = 1 + rnd(dim), rnd(dim)
            sd[f"{b}.mlp.fc1.weight"], sd[f"{b}.mlp.fc1.bias"] = rnd(4 * dim, dim), rnd(4 * dim)
            sd[f"{b}.mlp.fc2.weight"], sd[f"{b}.mlp.fc2.bias"] = rnd(dim, 4 * dim), rnd(dim)

    for m, dim in (("a", a_dim), ("v", v_dim)):
        if di:
            add_stack(f"{m}_trans", dim, embed, di, seq)
        else:
            sd[f"{m}_in_proj.0.weight"], sd[f"{m}_in_proj.0.bias"] = 1 + rnd(dim), rnd(dim)
            sd[f"{m}_in_proj.1.weight"], sd[f"{m}_in_proj.1.bias"] = rnd(embed, dim), rnd(embed)
    if ds:
        uppers = {"unified": ["s_trans"], "cross_attention": ["s_trans"], "independent": ["a_s_trans", "v_s_trans"]}
        for p in uppers[arch]:
            add_stack(p, embed, s_embed, ds, 2 * seq if arch == "cross_attention" else seq)
    else:
        for m in ("a", "v"):
            sd[f"{m}_mlp.0.weight"], sd[f"{m}_mlp.0.bias"] = 1 + rnd(embed), rnd(embed)
            sd[f"{m}_mlp.1.weight"], sd[f"{m}_mlp.1.bias"] = rnd(classes, embed), rnd(classes)
    return sd
