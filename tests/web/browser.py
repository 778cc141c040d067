"""Headless Chromium (Debian's `chromium` + `chromium-driver`) driven by Selenium, and a real
server started through tests/e2e/launcher_harness.py, for the tests of the router's web pages."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from launcher_harness import Server  # noqa: E402

SOURCE_DIR = Path(__file__).resolve().parents[2]
SMOLLM2 = SOURCE_DIR / "models" / "SmolLM2-135M-Instruct" / "SmolLM2-135M-Instruct.Q4_1.gguf"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def require_browser() -> None:
    """Skips (never passes) when scripts/setup.sh has not installed the browser."""
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("chromium and chromium-driver are not installed (scripts/setup.sh)")
    pytest.importorskip("selenium")


def start_chromium(profile_dir: Path):
    """A headless Chromium with a fresh profile. No network beyond the local server is needed."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,800", f"--user-data-dir={profile_dir}",
                "--disable-extensions", "--no-first-run"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


def start_server(name: str, model: Path, extra_args: tuple = ()) -> Server:
    if not model.exists():
        pytest.skip(f"{model} is missing (scripts/fetch-default-model.sh)")
    return Server(name, model=model, extra_args=extra_args).start()


def stop_server(server: Server) -> None:
    try:
        server.stop(30)
    finally:
        server.kill_everything()


def copy_screenshot(path: Path) -> None:
    """Keeps the screenshot for a person when TG_SCREENSHOT_DIR is set (CI keeps only checks)."""
    target = os.environ.get("TG_SCREENSHOT_DIR")
    if target:
        os.makedirs(target, exist_ok=True)
        shutil.copy(path, target)
