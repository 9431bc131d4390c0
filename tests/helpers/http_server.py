"""A local HTTP file server with Range support, for testing downloads offline."""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path


class Server:
    """What the handler saw, and knobs to make it misbehave."""

    def __init__(self, root: Path):
        self.root = root
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.cut_after: int | None = None  # close the connection after this many body bytes (once)
        self.ranges = True  # False: ignore Range headers, as some servers do
        self.url = ""


@contextlib.contextmanager
def serve(root: Path) -> Iterator[Server]:
    state = Server(root)

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

        def do_GET(self):
            path = self.path.split("?")[0].lstrip("/")
            state.requests.append((path, self.headers.get("Range")))
            target = state.root / path
            if not target.is_file():
                self.send_error(404)
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
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if state.cut_after is not None:
                cut, state.cut_after = state.cut_after, None
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.close_connection = True
                return
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
