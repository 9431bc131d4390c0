"""Training and evaluation of the UAVM models and their audio encoder (one trainer shell: shell.py).

``uavm.train(config)`` and ``uavm.train.train(config)`` are the same call: the package is
callable, so the top-level name can be both the package and the function. Names load on
first use; ``evaluate`` is the module :mod:`uavm.train.evaluate` (its function is
``uavm.evaluate``).
"""

from __future__ import annotations

import sys
import types
from typing import Any

from ..lazy import lazy_exports

_EXPORTS = {
    "train": ".trainer",
    "TrainConfig": ".config",
    "build_config": ".config",
    "config_from_recipe": ".config",
    "TrainResult": ".shell",
    "train_audio_encoder": ".audio_encoder",
    "AudioEncoderConfig": ".audio_encoder",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


class _CallablePackage(types.ModuleType):
    """This package, callable as :func:`uavm.train.trainer.train`."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from .trainer import train

        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
