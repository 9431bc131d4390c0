"""A real uvicorn server on 127.0.0.1 around a tiny model, shared by the server tests."""

from __future__ import annotations

import socket
import threading
import time

import pytest

import uavm
from helpers.tiny_models import save_tiny_checkpoint

pytest.importorskip("starlette", reason="the [serve] extra is not installed")
pytest.importorskip("uvicorn", reason="the [serve] extra is not installed")

MAX_UPLOAD = 3 * 2**20


@pytest.fixture(scope="session")
def serve_checkpoint(tmp_path_factory):
    """A unified model over ConvNeXt-tiny features whose file says how its inputs are made."""
    return save_tiny_checkpoint(tmp_path_factory.mktemp("serve_model") / "model.safetensors")


@pytest.fixture(scope="session")
def server(serve_checkpoint):
    """Base URL of a running server (127.0.0.1, a free port); stopped after the session."""
    import uvicorn

    from uavm.serve import ServeOptions, create_app

    predictor = uavm.Predictor(serve_checkpoint, top_k=5, device="cpu", batch_size=1)
    app = create_app(predictor, ServeOptions(max_upload_bytes=MAX_UPLOAD, window=4, hop=2, model_name="tiny"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):  # bounded wait for start-up
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, "the server did not start"
    yield base
    server.should_exit = True
    thread.join(timeout=10)
