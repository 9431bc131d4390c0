"""Training-time augmentation of fbank batches ``[B, frames, bins]`` on the training device.

SpecAugment (one frequency and one time mask per clip, torchaudio's draw) runs
after normalisation, so masked cells are 0; then noise ``+ U[0,1)·s`` with
``s ~ U[0, 0.1)`` per clip and a per-clip circular time roll.
"""

from __future__ import annotations

import torch

NOISE_SHIFT = (-10, 10)  # numpy randint bounds: rolls of -10..9 frames


def spec_augment(x: torch.Tensor, freq_mask: int, time_mask: int, generator: torch.Generator) -> torch.Tensor:
    """One frequency and one time mask per clip of ``[B, frames, bins]``, set to 0 (torchaudio's draw)."""
    batch, frames, bins = x.shape
    keep = torch.ones_like(x, dtype=torch.bool)
    for axis, size, param in ((2, bins, freq_mask), (1, frames, time_mask)):
        if param <= 0:
            continue
        u = torch.rand(batch, 2, generator=generator, device=generator.device).to(x.device)
        width = u[:, 0] * param
        start = (u[:, 1] * (size - width)).floor()
        end = start + width.floor()
        position = torch.arange(size, device=x.device).view(1, size)
        inside = (position >= start.view(batch, 1)) & (position < end.view(batch, 1))
        keep &= ~(inside.view(batch, 1, size) if axis == 2 else inside.view(batch, size, 1))
    return x * keep


def add_noise_and_roll(x: torch.Tensor, generator: torch.Generator, shifts: torch.Tensor) -> torch.Tensor:
    """``x + U[0,1)·s`` with ``s ~ U[0, 0.1)`` per clip, then a per-clip circular roll along time."""
    batch, frames, _ = x.shape
    scale = torch.rand(batch, generator=generator, device=generator.device).to(x.device) / 10
    noise = torch.rand(x.shape, generator=generator, device=generator.device, dtype=x.dtype).to(x.device)
    x = x + noise * scale.view(batch, 1, 1)
    source = (torch.arange(frames, device=x.device).view(1, frames) - shifts.to(x.device).view(batch, 1)) % frames
    return torch.gather(x, 1, source.unsqueeze(-1).expand_as(x))
