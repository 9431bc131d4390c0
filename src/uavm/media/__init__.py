"""Media decoding: audio tracks as 16 kHz mono waveforms, video tracks as sampled, resized frames.

Kept apart from :mod:`uavm.features` (log-mel input and neural encoders): these modules
only read files with PyAV and never load a network. Names load on first use.
"""

from __future__ import annotations

from ..lazy import lazy_exports

_EXPORTS = {
    "load_audio": ".audio_io",
    "decode_audio": ".audio_io",
    "MonoResampler": ".audio_io",
    "load_frames": ".video_io",
    "decode_frames": ".video_io",
    "open_media": ".video_io",
    "FrameSampler": ".video_io",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
