"""Feature extraction at scale: media → audio and visual features in a feature store.

:class:`FeatureExtractor` turns one clip (or a batch) into features; :func:`extract` runs the pipeline (parallel decoding, batched encoders, resumable,
failures file); :mod:`.distributed` splits it over processes and nodes;
:func:`pack_datafile` converts the reference per-clip layout into a store.
"""

from __future__ import annotations

from .encoders import Encoders, resolve_encoders
from .extractor import ClipFeatures, FeatureExtractor
from .inputs import ClipInput, read_inputs
from .pack import pack_datafile
from .pipeline import ExtractOptions, ExtractReport, extract

__all__ = [
    "ClipFeatures",
    "ClipInput",
    "Encoders",
    "ExtractOptions",
    "FeatureExtractor",
    "ExtractReport",
    "extract",
    "pack_datafile",
    "read_inputs",
    "resolve_encoders",
]
