"""/dashboard in headless Chromium under a small load on a real server (stories260K, CPU): the
charts are drawn from /metrics every second and show non-zero throughput."""
from __future__ import annotations

import threading

import pytest
import requests

from browser import copy_screenshot, require_browser, start_chromium, start_server, stop_server
from launcher_harness import STORIES


@pytest.fixture(scope="module")
def server():
    require_browser()
    s = start_server("web-dashboard", STORIES)
    yield s
    stop_server(s)


def card(driver, name, attribute):
    value = driver.find_element("id", "card-" + name).get_attribute("data-" + attribute)
    return float(value) if value else 0.0


def pixels_of_color(driver, canvas_id, rgb):
    """Opaque pixels of the chart's line colour (text and axes are grey)."""
    return driver.execute_script(
        "const [id, r, g, b] = arguments;"
        "const c = document.getElementById(id);"
        "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "let n = 0;"
        "for (let i = 0; i < d.length; i += 4)"
        "  if (d[i + 3] > 200 && Math.abs(d[i] - r) + Math.abs(d[i + 1] - g) + Math.abs(d[i + 2] - b) < 60) n++;"
        "return n;", canvas_id, *rgb)


def test_charts_show_throughput_under_load(server, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    stop = threading.Event()
    errors = []

    def load():
        while not stop.is_set():
            r = requests.post(server.url + "/generate", timeout=60, json={
                "inputs": "Once upon a time", "parameters": {"max_new_tokens": 24, "ignore_eos": True}})
            if r.status_code != 200:
                errors.append(r.text)

    driver = start_chromium(tmp_path / "profile")
    threads = [threading.Thread(target=load, daemon=True) for _ in range(3)]
    try:
        driver.get(server.url + "/dashboard")
        for t in threads:
            t.start()
        wait = WebDriverWait(driver, 60, poll_frequency=0.1)
        # Three polls (one second apart) with tokens generated in between.
        wait.until(lambda d: card(d, "tokens", "peak") > 0 and card(d, "finished", "peak") > 0
                   and d.execute_script("return series.tokens.filter((v) => v > 0).length") >= 3)
        # Several polls one second apart have been drawn, and the histograms have data.
        wait.until(lambda d: card(d, "ttft", "last") > 0 and card(d, "itl", "last") > 0)
        assert driver.find_element("id", "status").text.startswith("updated")
        assert float(driver.find_element("id", "value-tokens").text) >= 0
        # The throughput line (green) rises above the axis; bars in the histograms (blue). Each
        # poll adds a segment, so on a loaded machine (fewer tokens between polls) the lines
        # need more polls to reach this length: wait for them rather than sample once.
        wait.until(lambda d: pixels_of_color(d, "chart-tokens", (0x16, 0xa3, 0x4a)) > 50
                   and pixels_of_color(d, "chart-finished", (0x08, 0x91, 0xb2)) > 50)
        for canvas in ("chart-ttft", "chart-itl"):
            assert pixels_of_color(driver, canvas, (0x25, 0x63, 0xeb)) > 200, canvas
        assert driver.find_element("id", "value-ttft").text.startswith("median ≤ ")
        shot = tmp_path / "dashboard.png"
        assert driver.save_screenshot(str(shot))
        copy_screenshot(shot)
    finally:
        stop.set()
        for t in threads:
            if t.is_alive():
                t.join(timeout=60)
        driver.quit()
    assert not errors, errors[:3]
