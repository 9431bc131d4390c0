"""Plain HTTP requests for the server tests (standard library only)."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
import uuid


def request(
    url: str, data: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 120
) -> tuple[int, dict]:
    """(status, JSON body) of one request, for error statuses too."""
    req = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def multipart(fields: dict[str, str], file_name: str | None, content: bytes | None) -> tuple[bytes, dict[str, str]]:
    """A multipart/form-data body with text fields and at most one file in field ``file``."""
    boundary = uuid.uuid4().hex
    parts = []
    for key, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
    if file_name is not None:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n".encode()
            + content
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def post_chunked(
    host: str, port: int, path: str, body: bytes, headers: dict[str, str], timeout: float = 60
) -> tuple[int, dict]:
    """POST ``body`` with chunked transfer encoding (no Content-Length header)."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        chunks = (body[i : i + 65536] for i in range(0, len(body), 65536))
        connection.request("POST", path, body=chunks, headers=headers, encode_chunked=True)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def post_headers_only(
    host: str, port: int, path: str, headers: dict[str, str], timeout: float = 30
) -> tuple[int, dict]:
    """Send a POST's headers (announcing a body) and read the answer before sending any of the body."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.putrequest("POST", path)
        for key, value in headers.items():
            connection.putheader(key, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()
