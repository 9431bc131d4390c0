"""A stand-in for the Hugging Face Hub on 127.0.0.1: the two requests ``hf_hub_download`` makes.

``HEAD`` and ``GET /{org}/{name}/resolve/{revision}/{file}`` (checked by experiment with
huggingface_hub 2.4), answered from ``repos[org/name]`` (a folder) with the headers the
client needs: ``ETag``, ``X-Repo-Commit`` and ``Content-Length``.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class Hub:
    def __init__(self, repos: dict[str, Path]):
        self.repos = repos
        self.requests: list[tuple[str, str]] = []  # (method, path)
        self.url = ""


@contextlib.contextmanager
def serve_hub(repos: dict[str, Path]) -> Iterator[Hub]:
    state = Hub(repos)

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self) -> bytes | None:
            state.requests.append((self.command, self.path))
            parts = self.path.split("?")[0].strip("/").split("/")
            if len(parts) < 5 or parts[2] != "resolve" or "/".join(parts[:2]) not in state.repos:
                self.send_response(404)
                self.send_header("X-Error-Code", "RepoNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            target = state.repos["/".join(parts[:2])] / "/".join(parts[4:])
            if not target.is_file():
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            body = target.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", f'"{hashlib.sha256(body).hexdigest()}"')
            self.send_header("X-Repo-Commit", COMMIT)
            self.end_headers()
            return body

        def do_HEAD(self):
            self._answer()

        def do_GET(self):
            body = self._answer()
            if body is not None:
                self.wfile.write(body)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
