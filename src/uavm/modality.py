"""The modality vocabulary: one place for the names of audio, visual and the fused view.

Models and evaluation use the short keys ``"a"`` and ``"v"`` (and ``"av"`` for the fused
view); stores, reports and predictions use the long names ``"audio"``, ``"visual"`` and
``"fused"``. :func:`modality_key` accepts any spelling a user may type.
"""

from __future__ import annotations

MODALITIES: tuple[str, str] = ("a", "v")  # model inputs, in this order everywhere
VIEWS: tuple[str, str, str] = ("a", "v", "av")  # what is evaluated: audio only, visual only, fused
NAMES: dict[str, str] = {"a": "audio", "v": "visual", "av": "fused"}  # key -> long name
LONG_NAMES: tuple[str, str] = ("audio", "visual")  # the long names of MODALITIES, same order
VIEW_NAMES: tuple[str, str, str] = ("audio", "visual", "fused")  # the long names of VIEWS, same order
TRACK_NAMES: dict[str, str] = {"a": "audio", "v": "video"}  # what a media file calls the track

_SPELLINGS = {"a": "a", "audio": "a", "v": "v", "visual": "v", "video": "v"}


def modality_key(modality: str) -> str:
    """``"a"`` or ``"v"`` for any accepted spelling (a, audio, v, visual, video); ValueError otherwise."""
    try:
        return _SPELLINGS[modality]
    except (KeyError, TypeError):
        raise ValueError(f"modality must be 'a' (audio) or 'v' (visual), got {modality!r}") from None


def modality_name(modality: str) -> str:
    """``"audio"`` or ``"visual"`` for any accepted spelling."""
    return NAMES[modality_key(modality)]
