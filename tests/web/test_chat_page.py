"""The chat page at /chat in headless Chromium against a real CPU server with SmolLM2: a message
streams a reply that equals the API's greedy answer, a 429 is shown, the API key is kept for the
tab, and `/` sends a browser to /chat."""
from __future__ import annotations

import re
import threading

import pytest
import requests

from browser import (SMOLLM2, copy_screenshot, require_browser, start_chromium, start_server,
                     stop_server)
from launcher_harness import STORIES

TIMEOUT = 120


@pytest.fixture(scope="module")
def server():
    require_browser()
    s = start_server("web-chat", SMOLLM2, ("--max-concurrent-requests", "1", "--max-best-of", "1"))
    yield s
    stop_server(s)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    require_browser()
    driver = start_chromium(tmp_path_factory.mktemp("chromium"))
    yield driver
    driver.quit()


def wait(driver, condition, timeout=TIMEOUT):
    from selenium.webdriver.support.ui import WebDriverWait
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition)


def by_id(driver, element_id):
    return driver.find_element("id", element_id)


def set_value(driver, element_id, value):
    element = by_id(driver, element_id)
    element.clear()
    element.send_keys(str(value))


def assistant_texts(driver):
    return [e.text for e in driver.find_elements("css selector", ".message.assistant .content")]


def record_streaming(driver):
    """Has the page record, on every change, whether it was streaming and whether reply text
    showed while it was (window.sawStreaming, window.sawTextWhileStreaming). A reply of a few
    tokens streams in well under a second, so polling from here could miss that state."""
    driver.execute_script("""
        window.sawStreaming = false;
        window.sawTextWhileStreaming = false;
        new MutationObserver(() => {
          if (document.body.dataset.state !== "streaming") return;
          window.sawStreaming = true;
          const texts = [...document.querySelectorAll(".message.assistant .content")];
          if (texts.some((e) => e.textContent.trim())) window.sawTextWhileStreaming = true;
        }).observe(document.body, {subtree: true, childList: true, characterData: true,
                                   attributes: true, attributeFilter: ["data-state"]});""")


def open_chat(driver, server):
    driver.get(server.url + "/chat")
    wait(driver, lambda d: by_id(d, "model-name").text not in ("", "…"))


def test_browser_get_of_root_redirects_to_chat_and_pages_load_nothing_external(server):
    r = requests.get(server.url + "/", headers={"Accept": "text/html"}, allow_redirects=False,
                     timeout=10)
    assert r.status_code == 302 and r.headers["Location"] == "/chat"
    # An API client's GET / is not redirected (POST / is TGI's generate route).
    assert requests.get(server.url + "/", timeout=10).status_code == 405
    for page in ("/chat", "/dashboard", "/docs"):
        r = requests.get(server.url + page, timeout=10)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html"), page
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", r.text), page


def test_message_streams_a_reply_equal_to_the_apis_greedy_answer(server, browser, tmp_path):
    open_chat(browser, server)
    assert by_id(browser, "model-name").text == str(SMOLLM2)
    set_value(browser, "system-prompt", "You are a helpful assistant.")
    set_value(browser, "temperature", 0)
    set_value(browser, "max-tokens", 40)
    set_value(browser, "prompt", "What is the capital of France?")
    # Text appears while the request is still streaming, then the page returns to idle.
    record_streaming(browser)
    by_id(browser, "send").click()
    wait(browser, lambda d: d.execute_script("return window.sawTextWhileStreaming"))
    wait(browser, lambda d: d.find_element("tag name", "body").get_attribute("data-state") == "idle")
    assert not by_id(browser, "error").is_displayed(), by_id(browser, "error").text
    replies = assistant_texts(browser)
    assert len(replies) == 1 and replies[0].strip(), replies

    expected = requests.post(server.url + "/v1/chat/completions", timeout=TIMEOUT, json={
        "model": "tgi", "temperature": 0, "max_tokens": 40,
        "messages": [{"role": "system", "content": "You are a helpful assistant."},
                     {"role": "user", "content": "What is the capital of France?"}]}).json()
    # innerText drops trailing whitespace of the element; compare the visible text.
    assert replies[0] == expected["choices"][0]["message"]["content"].strip()
    shot = tmp_path / "chat-reply.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    copy_screenshot(shot)


def test_overload_429_is_shown_in_the_page(server, browser, tmp_path):
    open_chat(browser, server)
    # Hold the only slot (--max-concurrent-requests 1) with a long stream.
    holder = requests.post(server.url + "/v1/chat/completions", stream=True, timeout=TIMEOUT, json={
        "model": "tgi", "stream": True, "max_tokens": 2000, "ignore_eos": True,
        "messages": [{"role": "user", "content": "Tell me a long story."}]})
    lines = holder.iter_lines()
    assert next(line for line in lines if line).startswith(b"data: ")
    try:
        set_value(browser, "max-tokens", 8)
        set_value(browser, "prompt", "Hello again")
        by_id(browser, "send").click()
        wait(browser, lambda d: by_id(d, "error").is_displayed())
        error = by_id(browser, "error").text
        assert error.startswith("HTTP 429"), error
        assert "retry after 1 s" in error, error
        wait(browser, lambda d: d.find_element("tag name", "body").get_attribute("data-state") == "idle")
        # The earlier conversation and the new user message are still shown; no empty reply.
        assert browser.find_elements("css selector", ".message.user")[-1].text.endswith("Hello again")
        shot = tmp_path / "chat-page.png"
        assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
        copy_screenshot(shot)
    finally:
        holder.close()


def test_validation_error_422_is_shown_in_the_page(server, browser):
    open_chat(browser, server)
    set_value(browser, "temperature", 3)  # the server allows at most 2
    set_value(browser, "prompt", "Hello")
    by_id(browser, "send").click()
    wait(browser, lambda d: by_id(d, "error").is_displayed())
    error = by_id(browser, "error").text
    assert error.startswith("HTTP 422") and "temperature" in error, error
    assert not any(assistant_texts(browser))


def running_requests(server):
    text = requests.get(server.url + "/metrics", timeout=10).text
    return float(re.search(r"^tgi_running_requests (\S+)$", text, re.M).group(1))


def test_stop_cancels_the_stream_and_regenerate_replaces_the_reply(server, browser):
    open_chat(browser, server)
    wait(browser, lambda d: running_requests(server) == 0)  # the held slot was released
    set_value(browser, "temperature", 0)
    set_value(browser, "max-tokens", 1000)
    set_value(browser, "prompt", "Write a very long story about a dragon.")
    by_id(browser, "send").click()
    wait(browser, lambda d: any(assistant_texts(d)))
    by_id(browser, "stop").click()
    wait(browser, lambda d: d.find_element("tag name", "body").get_attribute("data-state") == "idle",
         timeout=5)
    partial = assistant_texts(browser)[-1]
    assert partial.strip() and not by_id(browser, "error").is_displayed()
    # The server cancelled the request when the page aborted it.
    wait(browser, lambda d: running_requests(server) == 0, timeout=10)

    set_value(browser, "max-tokens", 12)
    record_streaming(browser)
    by_id(browser, "regenerate").click()
    wait(browser, lambda d: d.execute_script("return window.sawStreaming"))
    wait(browser, lambda d: d.find_element("tag name", "body").get_attribute("data-state") == "idle")
    replies = assistant_texts(browser)
    assert len(replies) == 1 and replies[0].strip(), replies  # replaced, not appended
    # Both are the same greedy continuation, cut at different lengths.
    shorter, longer = sorted([partial, replies[0]], key=len)
    assert longer.startswith(shorter), (partial, replies[0])


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory):
    require_browser()
    template = tmp_path_factory.mktemp("template") / "plain.jinja"
    template.write_text("{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}")
    s = start_server("web-key", STORIES, ("--api-key", "s3cret", "--chat-template", str(template)))
    yield s
    stop_server(s)


def test_api_key_is_entered_once_and_kept_for_the_tab(keyed_server, browser):
    browser.get(keyed_server.url + "/chat")
    wait(browser, lambda d: by_id(d, "error").is_displayed())
    error = by_id(browser, "error").text
    assert error.startswith("/info: HTTP 401") and "enter the server's API key" in error, error

    set_value(browser, "api-key", "s3cret")
    by_id(browser, "system-prompt").click()  # `change` fires when the field loses focus
    wait(browser, lambda d: by_id(d, "model-name").text == str(STORIES))
    assert not by_id(browser, "error").is_displayed()
    assert browser.execute_script("return sessionStorage.getItem('text-gen-api-key')") == "s3cret"

    browser.refresh()  # same tab: the key survives and is used without asking again
    wait(browser, lambda d: by_id(d, "model-name").text == str(STORIES))
    set_value(browser, "temperature", 0)
    set_value(browser, "max-tokens", 12)
    set_value(browser, "prompt", "Once upon a time")
    by_id(browser, "send").click()
    wait(browser, lambda d: any(assistant_texts(d)) and
         d.find_element("tag name", "body").get_attribute("data-state") == "idle")
    assert not by_id(browser, "error").is_displayed(), by_id(browser, "error").text
