"""``uavm serve`` as a user starts it: a process bound to 127.0.0.1 that answers /health."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from helpers.http_client import request

pytestmark = pytest.mark.slow


def test_serve_command_binds_localhost_and_answers(serve_checkpoint):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uavm",
            "serve",
            "--model",
            str(serve_checkpoint),
            "--device",
            "cpu",
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        answer = None
        for _ in range(240):  # bounded wait: up to ~60 s for the model to load
            if process.poll() is not None:
                break
            try:
                answer = request(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except OSError:
                time.sleep(0.25)
        assert answer is not None, process.stdout.read() if process.poll() is not None else "no answer"
        assert answer[0] == 200 and answer[1]["status"] == "ok"
    finally:
        process.terminate()
        try:
            output = process.communicate(timeout=20)[0]
        except subprocess.TimeoutExpired:
            process.kill()
            output = process.communicate()[0]
    assert f"http://127.0.0.1:{port}/" in output
