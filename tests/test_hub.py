"""Downloads: cache folder, atomic final file, resume with Range, clear errors."""

from __future__ import annotations

import os
import socket

import pytest

from helpers.http_server import serve
from uavm.errors import DownloadError
from uavm.hub import cache_dir, download, filename_from_url


def test_cache_dir_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("UAVM_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"


def test_filename_from_url_drops_query():
    assert filename_from_url("https://x.org/s/abc/model-h4-di3.pth?dl=1") == "model-h4-di3.pth"


def test_download_then_cached(tmp_path):
    payload = os.urandom(300_000)
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "w.bin").write_bytes(payload)
    with serve(tmp_path / "srv") as server:
        dest = download(f"{server.url}/w.bin?dl=1", tmp_path / "out" / "w.bin", progress=False)
        assert dest.read_bytes() == payload
        download(f"{server.url}/w.bin", dest, progress=False)
        assert len(server.requests) == 1  # the second call used the file already there


def test_interrupted_download_leaves_no_final_file_and_resumes(tmp_path):
    payload = os.urandom(500_000)
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "w.bin").write_bytes(payload)
    dest = tmp_path / "w.bin"
    with serve(tmp_path / "srv") as server:
        server.cut_after = 200_000
        with pytest.raises(DownloadError, match="w.bin"):
            download(f"{server.url}/w.bin", dest, progress=False)
        assert not dest.exists()
        part = tmp_path / "w.bin.part"
        assert 0 < part.stat().st_size < len(payload)
        have = part.stat().st_size
        download(f"{server.url}/w.bin", dest, progress=False)
        assert dest.read_bytes() == payload
        assert not part.exists()
        assert server.requests[-1] == ("w.bin", f"bytes={have}-")


def test_http_error_names_url_and_destination(tmp_path):
    (tmp_path / "srv").mkdir()
    with serve(tmp_path / "srv") as server:
        url = f"{server.url}/missing.pth"
        with pytest.raises(DownloadError) as info:
            download(url, tmp_path / "missing.pth", progress=False)
    message = str(info.value)
    assert url in message and str(tmp_path / "missing.pth") in message and "\n" not in message


def test_offline_names_url_and_destination(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match="fetch it by hand"):
        download(f"http://127.0.0.1:{port}/x.pth", tmp_path / "x.pth", progress=False, timeout=5)


def test_file_url(tmp_path):
    src = tmp_path / "a.bin"
    src.write_bytes(b"abc" * 1000)
    assert download(src.as_uri(), tmp_path / "b.bin", progress=False).read_bytes() == b"abc" * 1000
