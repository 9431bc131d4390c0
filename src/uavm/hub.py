"""Fetching released artefacts into a local cache: resumable and atomic.

A download goes to ``<name>.part`` next to its final path and is renamed into
place only once complete, so a half-written file is never used. An interrupted
download resumes from the ``.part`` file with an HTTP ``Range`` request.
:func:`open_stream` reads a URL as a stream (no file written), reconnecting with
``Range`` and backing off when the connection drops.
"""

from __future__ import annotations

import http.client
import io
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from .errors import DownloadError
from .progress import progress_bar

CHUNK = 1 << 20


def cache_dir() -> Path:
    """The cache folder: ``$UAVM_CACHE``, else ``$XDG_CACHE_HOME/uavm``, else ``~/.cache/uavm``."""
    if os.environ.get("UAVM_CACHE"):
        return Path(os.environ["UAVM_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "uavm"


def filename_from_url(url: str) -> str:
    """The last path component of ``url`` without its query string."""
    name = Path(urllib.parse.urlparse(url).path).name
    if not name:
        raise DownloadError(f"{url}: cannot tell a file name from this URL")
    return name


def download(url: str, dest: str | Path | None = None, *, progress: bool = True, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` (default: the cache folder), unless it is already there.

    Returns the final path. Raises :class:`DownloadError` naming the URL and where
    to put the file by hand when the fetch fails (offline, HTTP error).
    """
    dest = Path(dest) if dest is not None else cache_dir() / filename_from_url(url)
    if dest.exists():
        if looks_like_html(dest):
            raise DownloadError(
                f"{dest}: the cached download of {url} is an HTML page (a login, error or "
                "quota page), not the file; delete it and run again, or fetch the file by hand"
            )
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        _fetch(url, part, progress=progress, timeout=timeout)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DownloadError(f"could not download {url} ({reason}); fetch it by hand and save it as {dest}") from exc
    if looks_like_html(part) and not dest.name.lower().endswith((".html", ".htm")):
        part.unlink()
        raise DownloadError(
            f"{url} returned an HTML page (a login, error or quota page?), not the file; "
            f"nothing was cached: fetch it by hand and save it as {dest}"
        )
    os.replace(part, dest)
    return dest


def looks_like_html(path: str | Path) -> bool:
    """Whether the file starts like an HTML document (what a sharing site sends instead of a file)."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return False
    head = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html")) or (
        head.startswith((b"<head", b"<!--", b"<?xml")) and b"<html" in head
    )


def _fetch(url: str, part: Path, *, progress: bool, timeout: float) -> None:
    """Append the rest of ``url`` to ``part``, resuming from its current size."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "uavm"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the .part already holds the whole file
            return
        raise
    with response:
        resumed = have and response.status == 206
        mode = "ab" if resumed else "wb"
        if not resumed:
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with (
            open(part, mode) as out,
            progress_bar(
                total=total,
                initial=have,
                unit="B",
                unit_scale=True,
                desc=part.name[: -len(".part")],
                enabled=progress,
            ) as bar,
        ):
            while chunk := response.read(CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
        if total is not None and part.stat().st_size != total:
            raise OSError(f"connection closed after {part.stat().st_size} of {total} bytes")


# ----------------------------------------------------------------- streaming reads

RETRIES = 5
BACKOFF = 1.0  # seconds before the first retry; doubled for each further one


class RemoteStream(io.RawIOBase):
    """A read-only, forward-only file object over ``url`` that survives dropped connections.

    When the connection fails or closes before the announced length, the stream
    reopens the URL with ``Range: bytes=<position>-`` after a pause (``backoff``,
    doubled each time, at most ``retries`` times in a row) and carries on, so a
    reader such as ``tarfile.open(fileobj=..., mode="r|*")`` never sees the cut. A
    server that ignores ``Range`` is read from the start again and the bytes
    already delivered are skipped. ``reconnects`` counts the resumptions.
    """

    def __init__(self, url: str, *, retries: int = RETRIES, backoff: float = BACKOFF, timeout: float = 60.0):
        super().__init__()
        self.url, self.retries, self.backoff, self.timeout = url, retries, backoff, timeout
        self.position = 0
        self.size: int | None = None
        self.reconnects = 0
        self._response = None
        self._with_retries(self._connect)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        failures = 0
        while True:
            try:
                n = self._response.readinto(buffer)
                if n == 0 and len(buffer) and self.size is not None and self.position < self.size:
                    raise OSError(f"connection closed after {self.position} of {self.size} bytes")
                self.position += n
                return n
            except (OSError, http.client.HTTPException) as exc:
                failures += 1
                if failures > self.retries:
                    raise DownloadError(f"could not read {self.url} at byte {self.position} ({exc})") from exc
                time.sleep(self.backoff * 2 ** (failures - 1))
                self.reconnects += 1
                self._response.close()
                self._with_retries(self._connect)

    def close(self) -> None:
        if self._response is not None:
            self._response.close()
        super().close()

    def _with_retries(self, step) -> None:
        with_retries(self.url, step, self.retries, self.backoff)

    def _connect(self) -> None:
        request = urllib.request.Request(self.url, headers={"User-Agent": "uavm"})
        if self.position:
            request.add_header("Range", f"bytes={self.position}-")
        response = urllib.request.urlopen(request, timeout=self.timeout)
        length = response.headers.get("Content-Length")
        if self.position and response.status == 206:
            total = response.headers.get("Content-Range", "").rpartition("/")[2]
            self.size = int(total) if total.isdigit() else self.size
        else:  # the whole file: skip what was already delivered
            self.size = int(length) if length is not None else None
            left = self.position
            while left:
                chunk = response.read(min(left, CHUNK))
                if not chunk:
                    raise OSError(f"connection closed after {self.position - left} bytes")
                left -= len(chunk)
        self._response = response


def with_retries(url: str, step, retries: int = RETRIES, backoff: float = BACKOFF):
    """``step()``, tried again after a pause (doubled each time) when the network fails; a client error
    (HTTP 4xx but 408 / 429) or the last failure is a one-line :class:`DownloadError` naming ``url``."""
    for attempt in range(retries + 1):
        try:
            return step()
        except urllib.error.HTTPError as exc:
            if exc.code < 500 and exc.code not in (408, 429):
                raise DownloadError(f"could not download {url} (HTTP {exc.code} {exc.reason})") from None
            problem: BaseException = exc
        except (OSError, http.client.HTTPException) as exc:
            problem = exc
        if attempt == retries:
            reason = getattr(problem, "reason", None) or problem
            raise DownloadError(f"could not download {url} ({reason})") from problem
        time.sleep(backoff * 2**attempt)


class RangeNotSupported(DownloadError):
    """The server does not answer HTTP ``Range`` requests."""


class RangeFile(io.RawIOBase):
    """A read-only, seekable file object over ``url``: every read is one HTTP ``Range`` request.

    For archives whose index is at the end (zip): only the index and the members read
    cross the network, and nothing is written to disk. The constructor raises
    :class:`RangeNotSupported` when the server ignores ``Range``. ``requests`` counts them.
    """

    def __init__(self, url: str, *, retries: int = RETRIES, backoff: float = BACKOFF, timeout: float = 60.0):
        super().__init__()
        self.url, self.retries, self.backoff, self.timeout = url, retries, backoff, timeout
        self.position = 0
        self.requests = 0
        self.size = with_retries(url, self._probe, retries, backoff)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise OSError(f"{self.url}: seek before the start")
        self.position = base + offset
        return self.position

    def readinto(self, buffer) -> int:
        wanted = min(len(buffer), max(0, self.size - self.position))
        if not wanted:
            return 0
        data = with_retries(self.url, lambda: self._fetch(self.position, wanted), self.retries, self.backoff)
        buffer[: len(data)] = data
        self.position += len(data)
        return len(data)

    def _request(self, start: int, end: int):
        self.requests += 1
        request = urllib.request.Request(self.url, headers={"User-Agent": "uavm", "Range": f"bytes={start}-{end}"})
        return urllib.request.urlopen(request, timeout=self.timeout)

    def _probe(self) -> int:
        with self._request(0, 0) as response:
            total = response.headers.get("Content-Range", "").rpartition("/")[2]
            if response.status != 206 or not total.isdigit():
                raise RangeNotSupported(f"{self.url}: the server does not answer Range requests")
            return int(total)

    def _fetch(self, start: int, length: int) -> bytes:
        with self._request(start, start + length - 1) as response:
            if response.status != 206:
                raise RangeNotSupported(f"{self.url}: the server stopped answering Range requests")
            data = response.read(length)  # a server may send past the end asked for: it is not read
        if len(data) != length:
            raise OSError(f"connection closed after {len(data)} of {length} bytes")
        return data


def open_ranged(url: str, *, retries: int = RETRIES, backoff: float = BACKOFF) -> io.BufferedReader:
    """A buffered, seekable view of ``url`` read by ``Range`` requests (see :class:`RangeFile`)."""
    return io.BufferedReader(RangeFile(url, retries=retries, backoff=backoff), CHUNK)


def open_stream(url: str, *, retries: int = RETRIES, backoff: float = BACKOFF) -> io.BufferedReader:
    """A buffered, resuming stream of ``url`` (see :class:`RemoteStream`)."""
    return io.BufferedReader(RemoteStream(url, retries=retries, backoff=backoff), CHUNK)


# ----------------------------------------------------------------- the Hugging Face Hub

HF_HUB = "hf-hub:"
HUB_WEIGHTS = "model.safetensors"


def is_hub_name(spec: object) -> bool:
    """Whether ``spec`` names a Hugging Face Hub repository (``hf-hub:ORG/NAME[@REVISION]``)."""
    return str(spec).startswith(HF_HUB)


def hub_file(spec: str, filename: str = HUB_WEIGHTS) -> Path:
    """``filename`` of the Hub repository ``hf-hub:ORG/NAME[@REVISION]``, downloaded once into the Hub's cache.

    Uses ``huggingface_hub`` (the ``[hub]`` extra); ``HF_ENDPOINT`` and ``HF_HUB_CACHE``
    are honoured as set when this is called, ``HF_TOKEN`` for private repositories.
    """
    from .extras import require

    repo, _, revision = spec[len(HF_HUB) :].partition("@")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise DownloadError(f"{spec}: a Hub name is hf-hub:ORG/NAME (optionally @REVISION)")
    require("hub", f"{spec} (a Hugging Face Hub model)", "huggingface_hub")
    import huggingface_hub
    from huggingface_hub import errors

    # RemoteEntryNotFoundError since huggingface_hub 1.0 (EntryNotFoundError before)
    missing = (errors.RepositoryNotFoundError, getattr(errors, "RemoteEntryNotFoundError", errors.EntryNotFoundError))

    try:
        return Path(
            huggingface_hub.hf_hub_download(
                repo,
                filename,
                revision=revision or None,
                endpoint=os.environ.get("HF_ENDPOINT") or None,
                cache_dir=os.environ.get("HF_HUB_CACHE") or None,
            )
        )
    except missing as exc:
        raise DownloadError(f"{spec}: no {filename} in this Hub repository ({type(exc).__name__})") from None
    except (errors.HfHubHTTPError, errors.EntryNotFoundError, OSError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DownloadError(f"{spec}: could not fetch {filename} from the Hub ({first})") from None
