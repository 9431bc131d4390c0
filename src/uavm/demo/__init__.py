"""The offline end-to-end demo: a generated audio-visual dataset and the whole pipeline on it.

Names load on first use.
"""

from __future__ import annotations

from ..lazy import lazy_exports

_EXPORTS = {
    "run_demo": ".pipeline",
    "DemoOptions": ".pipeline",
    "make_demo_dataset": ".dataset",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
