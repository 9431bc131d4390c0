"""Exceptions that carry a one-line, user-facing message.

The CLI prints ``str(error)`` of any :class:`UAVMError` on one line and exits
non-zero; library callers can catch the specific subclasses.
"""

from __future__ import annotations

from pathlib import Path

# C0 control characters and DEL: a file name holding one (a newline) would break a one-line message
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F)}


def printable(text: str) -> str:
    """``text`` as one printable line: undecodable file-name bytes (surrogate escapes) and control characters as ``\\xNN``."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace").translate(_CONTROL)


class UAVMError(Exception):
    """Base class: an error whose message is fit to show a user as it is."""


class CheckpointError(UAVMError):
    """A file is not a loadable UAVM / reference checkpoint."""


class DownloadError(UAVMError):
    """A released artefact could not be fetched (offline, HTTP error, ...)."""


class MediaError(UAVMError):
    """A media file could not be opened or decoded."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class NoAudioTrackError(MediaError):
    """The media file has no audio stream."""

    def __init__(self, path: str | Path):
        super().__init__(path, "no audio track")


class NoVideoTrackError(MediaError):
    """The media file has no video stream."""

    def __init__(self, path: str | Path):
        super().__init__(path, "no video track")


class ConfigError(UAVMError):
    """A recipe / configuration value is missing or invalid."""


class MissingExtraError(UAVMError, ImportError):
    """An optional dependency is not installed; the message names the extra that provides it."""

    def __init__(self, user: str, extra: str, module: str):
        self.user, self.extra, self.module = user, extra, module
        super().__init__(f"{user} needs the [{extra}] extra: pip install 'uavm[{extra}]' ({module} is not installed)")


class StorageError(UAVMError):
    """An output could not be written (disk full, read-only filesystem, no permission)."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: cannot write: {problem}")
