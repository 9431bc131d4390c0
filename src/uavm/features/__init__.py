"""Feature front ends: the Kaldi log-mel filterbank and the ConvNeXt audio and visual encoders.

``load_audio`` and ``load_frames`` (media decoding, :mod:`uavm.media`) are re-exported here
as the inputs of these front ends. Names load on first use.
"""

from __future__ import annotations

from ..lazy import lazy_exports

_EXPORTS = {
    "fbank": ".filterbank",
    "normalized_fbank": ".filterbank",
    "FBANK_STATS": "..feature_spec",
    "AudioEncoder": ".audio_encoder",
    "VisualEncoder": ".visual_encoder",
    "load_audio": "..media.audio_io",
    "load_frames": "..media.video_io",
    "FeatureSpec": "..feature_spec",
    "FbankSpec": "..feature_spec",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
