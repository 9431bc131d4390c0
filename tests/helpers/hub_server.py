"""A stand-in for the Hugging Face Hub on 127.0.0.1: the two requests ``hf_hub_download`` makes.

``HEAD`` and ``GET /{org}/{name}/resolve/{revision}/{file}`` (checked by experiment with
huggingface_hub 2.4), answered from ``repos[org/name]`` (a folder) with the headers the
client needs: ``ETag``, ``X-Repo-Commit`` and ``Content-Length``. The serving is the test
HTTP server's (``helpers.http_server``); this module says only how the Hub routes and answers.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

from helpers.http_server import Server, running

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class Hub(Server):
    """Model repositories (``org/name`` → folder); ``requests`` logs (method, path as sent)."""

    def __init__(self, repos: dict[str, Path]):
        super().__init__()
        self.repos = repos
        self.requests: list[tuple[str, str]] = []  # (method, path)

    def seen(self, method: str, target: str, byte_range: str | None) -> None:
        self.requests.append((method, target))

    def locate(self, path: str) -> tuple[Path | None, dict[str, str]]:
        parts = path.strip("/").split("/")
        repo = "/".join(parts[:2])
        if len(parts) < 5 or parts[2] != "resolve" or repo not in self.repos:
            return None, {"X-Error-Code": "RepoNotFound"}
        target = self.repos[repo] / "/".join(parts[4:])
        if not target.is_file():
            return None, {"X-Error-Code": "EntryNotFound"}
        etag = hashlib.sha256(target.read_bytes()).hexdigest()
        return target, {"ETag": f'"{etag}"', "X-Repo-Commit": COMMIT}


def serve_hub(repos: dict[str, Path]) -> contextlib.AbstractContextManager[Hub]:
    """The Hub stand-in over ``repos``, running until the block ends (``hub.url`` is its endpoint)."""
    return running(Hub(repos))
