"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import StorageError


@contextlib.contextmanager
def atomic_path(dest: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; on success it replaces ``dest`` atomically.

    On an exception the temporary file is removed and ``dest`` is left untouched. A write
    that fails for want of space or permission (also inside a library that reports it in its
    own exception type, as safetensors and torch do) is a one-line :class:`StorageError`.
    """
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error(exc, dest.parent) from None
    tmp = dest.with_name(f".{dest.name}.tmp{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, dest)
    except StorageError:
        raise
    except OSError as exc:
        raise storage_error(exc, dest) from None
    except Exception as exc:
        if _says_disk_full(exc) or _nearly_full(dest.parent):
            raise StorageError(dest, "no space left on device") from None
        raise
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def write_text_atomic(dest: str | Path, text: str) -> None:
    """Write ``text`` to ``dest`` atomically (a failed write is a one-line :class:`StorageError`)."""
    with atomic_path(dest) as tmp:
        tmp.write_text(text)


def _says_disk_full(exc: BaseException) -> bool:
    text = str(exc)
    return "No space left on device" in text or "os error 28" in text


def storage_error(exc: OSError, path: str | Path) -> StorageError:
    """One line for a failed write to ``path``: "no space left on device", "read-only file system", ..."""
    where = exc.filename or path
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageError(where, "no space left on device")
    if exc.errno == errno.EROFS:
        return StorageError(where, "read-only file system")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return StorageError(where, "permission denied")
    if exc.errno is None and _nearly_full(Path(path)):  # e.g. numpy's "N requested and M written"
        return StorageError(path, f"no space left on device ({exc})")
    return StorageError(where, exc.strerror or str(exc) or type(exc).__name__)


def _nearly_full(path: Path) -> bool:
    for candidate in (path, *path.parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free < 1 << 20
            except OSError:
                return False
    return False


def write_json_atomic(dest: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``dest`` atomically."""
    write_text_atomic(dest, json.dumps(obj, indent=2) + "\n")
