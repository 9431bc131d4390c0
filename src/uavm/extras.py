"""Optional dependencies: which extra provides which module, and one-line errors when one is missing.

Core ``pip install uavm`` is enough for extraction, prediction and the stores; training
needs ``[train]`` (scipy, scikit-learn) and the analyses ``[analysis]`` (also matplotlib).
Code that needs an extra calls :func:`require` (or turns an import failure into
:class:`~uavm.errors.MissingExtraError` with :func:`missing_extra`), so the user reads
``uavm train needs the [train] extra: pip install 'uavm[train]'`` instead of a traceback.
"""

from __future__ import annotations

import importlib.util

from .errors import MissingExtraError

# top-level module -> the extra that installs it (the smallest one)
EXTRA_OF_MODULE = {
    "scipy": "train",
    "sklearn": "train",
    "matplotlib": "analysis",
    "huggingface_hub": "hub",
    "starlette": "serve",
    "uvicorn": "serve",
    "multipart": "serve",
}
# command -> the extra its optional imports come from
EXTRA_OF_COMMAND = {
    "train": "train",
    "eval": "train",
    "recipe": "train",
    "train-audio-encoder": "train",
    "analyze": "analysis",
    "serve": "serve",
}


def require(extra: str, user: str, *modules: str) -> None:
    """Raise :class:`MissingExtraError` naming ``user`` and ``extra`` unless every module can be imported."""
    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise MissingExtraError(user, extra, module)


def missing_extra(exc: ImportError, user: str, extra: str | None = None) -> MissingExtraError | None:
    """The one-line error for ``exc`` when it is a missing optional module (``None`` otherwise)."""
    if isinstance(exc, MissingExtraError):
        return MissingExtraError(user, extra or exc.extra, exc.module)
    root = (getattr(exc, "name", None) or "").split(".")[0]
    if root not in EXTRA_OF_MODULE:
        return None
    return MissingExtraError(user, extra or EXTRA_OF_MODULE[root], root)
