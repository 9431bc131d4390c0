"""A local HTTP file server with Range support, for testing downloads offline."""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path


class Server:
    """A folder served over HTTP: what the handler saw, and knobs to make it misbehave.

    Another site (the Hub stand-in) routes by overriding ``locate`` and logs by overriding ``seen``.
    """

    def __init__(self, root: Path | None = None):
        self.root = root
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.cut_after: int | None = None  # close the connection after this many body bytes (once)
        self.ranges = True  # False: ignore Range headers, as some servers do
        self.url = ""

    def seen(self, method: str, target: str, byte_range: str | None) -> None:
        """Log a request: ``target`` as sent (query included), ``byte_range`` its Range header."""
        self.requests.append((target.split("?")[0].lstrip("/"), byte_range))

    def locate(self, path: str) -> tuple[Path | None, dict[str, str]]:
        """The file ``path`` (no query, no leading slash) names, None for a 404; and headers to answer with."""
        target = self.root / path
        return (target if target.is_file() else None), {}


@contextlib.contextmanager
def running(state: Server) -> Iterator[Server]:
    """``state`` answering GET and HEAD on 127.0.0.1 (a free port, ``state.url``) until the block ends."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

        def do_HEAD(self):
            self._answer(send_body=False)

        def do_GET(self):
            self._answer(send_body=True)

        def _answer(self, send_body: bool) -> None:
            state.seen(self.command, self.path, self.headers.get("Range"))
            target, headers = state.locate(self.path.split("?")[0].lstrip("/"))
            if target is None:
                self.send_response(404)
                self._send_headers({**headers, "Content-Length": "0"})
                return
            data = target.read_bytes()
            start = 0
            end = len(data) - 1
            if self.headers.get("Range") and state.ranges:
                first, _, last = self.headers["Range"].split("=")[1].partition("-")
                start = int(first)
                end = min(int(last), end) if last else end
                if start >= len(data):
                    self.send_response(416)
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start : end + 1]
            self._send_headers({**headers, "Content-Length": str(len(body))})
            if not send_body:
                return
            if state.cut_after is not None:
                cut, state.cut_after = state.cut_after, None
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

        def _send_headers(self, headers: dict[str, str]) -> None:
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


def serve(root: Path) -> contextlib.AbstractContextManager[Server]:
    """The files under ``root`` at ``/<relative path>``, with Range support."""
    return running(Server(root))
