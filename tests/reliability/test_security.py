"""Class 7: a model file cannot make predict fetch a URL; a datafile video_id cannot leave the features
folder; a download that turned out to be an HTML page is never cached, and an HTML file already in the
cache is named with what to do."""

from __future__ import annotations

import json

import pytest

import uavm
from helpers.bad_media import run_cli
from helpers.http_server import serve
from helpers.tiny_models import tiny_model
from uavm.errors import ConfigError, DownloadError
from uavm.hub import download
from uavm.recipes.vggsound_released import rewrite_released_datafile

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("key", ["audio_encoder", "visual_encoder"])
def test_a_url_recorded_in_a_model_file_is_not_fetched(tmp_path, key, capsys):
    (tmp_path / "www").mkdir()
    with serve(tmp_path / "www") as server:
        info = {
            "audio_encoder": "random:tiny",
            "visual_encoder": "random:tiny",
            "labels": "vggsound",
            key: f"{server.url}/payload.pth",
        }
        uavm.save_model(tiny_model(), tmp_path / "m.safetensors", info=info)
        code, _, err = run_cli(
            ["predict", tmp_path / "a.mp4", "--model", tmp_path / "m.safetensors", "--device", "cpu"], capsys
        )
        assert server.requests == []
    flag = "--" + key.replace("_", "-")
    assert code == 1 and err.count("\n") == 1
    assert f"recorded {key} is a URL" in err and f"pass {flag} {server.url}/payload.pth" in err


@pytest.mark.parametrize("video_id", ["../../secret", "/etc/passwd", "a/../../../secret"])
def test_a_video_id_cannot_name_a_file_outside_the_features_folder(tmp_path, video_id):
    source = tmp_path / "train.json"
    source.write_text(json.dumps({"data": [{"video_id": video_id, "labels": "/m/a"}]}))
    with pytest.raises(ConfigError, match=r"train\.json: video_id .* names a file outside the features folder"):
        rewrite_released_datafile(source, tmp_path / "out.json", tmp_path / "a", tmp_path / "v")


def test_an_html_page_is_not_cached(tmp_path):
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "weights.pth").write_text("<!DOCTYPE html>\n<html><body>Sign in to download</body></html>")
    with serve(tmp_path / "www") as server:
        url = f"{server.url}/weights.pth"
        with pytest.raises(DownloadError, match="returned an HTML page") as info:
            download(url, tmp_path / "cache" / "weights.pth", progress=False)
    assert "\n" not in str(info.value)
    assert list((tmp_path / "cache").iterdir()) == []


def test_an_html_page_already_in_the_cache_is_named_with_what_to_do(tmp_path):
    cached = tmp_path / "cache" / "weights.pth"
    cached.parent.mkdir()
    cached.write_text("\n  <html><head><title>Quota exceeded</title></head></html>")
    with pytest.raises(DownloadError) as info:
        download("https://example.invalid/weights.pth", cached, progress=False)
    assert str(info.value).startswith(
        f"{cached}: the cached download of https://example.invalid/weights.pth is an HTML page"
    ) and "delete it" in str(info.value)


def test_a_hub_name_recorded_in_a_model_file_is_not_fetched(tmp_path, capsys, monkeypatch):
    (tmp_path / "www").mkdir()
    with serve(tmp_path / "www") as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        info = {"audio_encoder": "hf-hub:someone/encoder", "visual_encoder": "random:tiny", "labels": "vggsound"}
        uavm.save_model(tiny_model(), tmp_path / "m.safetensors", info=info)
        code, _, err = run_cli(
            ["predict", tmp_path / "a.mp4", "--model", tmp_path / "m.safetensors", "--device", "cpu"], capsys
        )
        assert server.requests == []
    assert code == 1 and err.count("\n") == 1
    assert "recorded audio_encoder is a Hub name (hf-hub:someone/encoder)" in err
    assert "pass --audio-encoder hf-hub:someone/encoder" in err
