"""``uavm serve``: a web page and a JSON API around one loaded model (needs the ``[serve]`` extra)."""

from __future__ import annotations

from .app import DEFAULT_MAX_UPLOAD_MB, ServeOptions, create_app, run

__all__ = ["DEFAULT_MAX_UPLOAD_MB", "ServeOptions", "create_app", "run"]
