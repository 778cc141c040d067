"""/openapi.json and /docs on a real server (stories260K, CPU): the document is valid OpenAPI
(openapi-spec-validator), describes every route the server answers with the methods it answers,
its request schemas list exactly the fields the validators accept, its examples are answered with
200, and /docs renders every operation in Chromium."""
from __future__ import annotations

import json
import re

import pytest
import requests

from browser import (SOURCE_DIR, copy_screenshot, require_browser, start_chromium, start_server,
                     stop_server)
from launcher_harness import STORIES

PLAIN_TEMPLATE = "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    template = tmp_path_factory.mktemp("template") / "plain.jinja"
    template.write_text(PLAIN_TEMPLATE)
    s = start_server("web-openapi", STORIES, ("--chat-template", str(template)))
    yield s
    stop_server(s)


@pytest.fixture(scope="module")
def spec(server):
    r = requests.get(server.url + "/openapi.json", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    return r.json()


def routes_in_source() -> set[str]:
    """Every path the router's route table and web pages compare against."""
    app = (SOURCE_DIR / "router/server/app.cc").read_text()
    paths = set(re.findall(r'path == "(/[^"]*)"', app))
    paths |= set(re.findall(r'^\s*"(/[^"]*)",?\s*$', app, re.M))  # the 405 list
    web = (SOURCE_DIR / "router/web/CMakeLists.txt").read_text()
    paths |= set(re.findall(r'"(/[^|"]+)\|', web))
    return paths


def accepted_keys(source: str, function: str) -> set[str]:
    """The key list RejectUnknownKeys gets in `function` (the validator's truth)."""
    body = source[source.index(function):]
    call = re.search(r"RejectUnknownKeys\(\w+,\s*\{([^}]*)\}", body)
    return set(re.findall(r'"([^"]+)"', call.group(1)))


def resolve(spec, schema):
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].split("/")[-1]]
    return schema


def test_the_document_is_valid_openapi(spec):
    from openapi_spec_validator import validate
    validate(spec)
    assert spec["openapi"].startswith("3.1")


def test_every_route_the_server_answers_is_described_with_its_methods(server, spec):
    source_paths = routes_in_source()
    assert {"/generate", "/v1/chat/completions", "/chat", "/openapi.json"} <= source_paths
    assert source_paths == set(spec["paths"]), source_paths ^ set(spec["paths"])
    for path in source_paths:
        for method in ("get", "post"):
            r = requests.request(method, server.url + path, timeout=30, data="{}",
                                 headers={"Accept": "text/html", "Content-Type": "application/json"},
                                 allow_redirects=False)
            answered = r.status_code not in (404, 405)
            assert answered == (method in spec["paths"][path]), (method, path, r.status_code)
    assert requests.get(server.url + "/no/such/route", timeout=10).status_code == 404


def test_request_schemas_list_exactly_what_the_validators_accept(spec):
    tgi = (SOURCE_DIR / "router/api/tgi_request.cc").read_text()
    openai = (SOURCE_DIR / "router/api/openai.cc").read_text()
    schemas = spec["components"]["schemas"]
    expected = {
        "GenerateParameters": accepted_keys(tgi, "RawParameters ParseTgiParameters"),
        "GenerateRequest": accepted_keys(tgi, "RawTgiRequest ParseTgiRequest"),
        "CompletionRequest": accepted_keys(openai, "OpenAiRequest ParseCompletionRequest"),
        "ChatRequest": accepted_keys(openai, "OpenAiRequest ParseChatRequest"),
        "StreamOptions": set(re.search(r'RejectUnknownKeys\(\*v, \{([^}]*)\}, "stream_options"',
                                       openai).group(1).replace('"', "").replace(" ", "").split(",")),
    }
    for name, keys in expected.items():
        described = set(schemas[name]["properties"])
        assert described == keys, (name, described ^ keys)
        assert schemas[name]["additionalProperties"] is False, name


def test_examples_are_answered_with_the_documented_schema(server, spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method != "post":
                continue
            media = operation["requestBody"]["content"]["application/json"]
            r = requests.post(server.url + path, json=media["example"], timeout=60)
            assert r.status_code == 200, (path, r.text)
            content_type = r.headers["Content-Type"].split(";")[0]
            documented = operation["responses"]["200"]["content"]
            assert content_type in documented, (path, content_type)
            schema = resolve(spec, documented[content_type]["schema"])
            if content_type == "text/event-stream":
                events = [json.loads(line[5:]) for line in r.text.splitlines()
                          if line.startswith("data:") and line != "data: [DONE]"]
                assert events, path
                body = events[0]
            else:
                body = r.json()
            if "oneOf" in schema:
                continue
            if schema.get("type") == "array":
                body, schema = body[0], resolve(spec, schema["items"])
            missing = set(schema.get("required", [])) - set(body)
            assert not missing, (path, missing, body)
    # A documented error shape: unknown keys are refused with 422.
    r = requests.post(server.url + "/generate", json={"inputs": "Hi", "nope": 1}, timeout=30)
    assert r.status_code == 422 and set(r.json()) == {"error", "error_type"}


def test_docs_page_renders_every_operation(server, spec, tmp_path):
    require_browser()
    from selenium.webdriver.support.ui import WebDriverWait
    driver = start_chromium(tmp_path / "profile")
    try:
        driver.get(server.url + "/docs")
        operations = sum(len(item) for item in spec["paths"].values())
        WebDriverWait(driver, 30).until(
            lambda d: len(d.find_elements("css selector", "details.operation")) == operations)
        shown = {(e.find_element("css selector", ".method").text.lower(),
                  e.find_element("css selector", ".path").text)
                 for e in driver.find_elements("css selector", "details.operation")}
        assert shown == {(m, p) for p, item in spec["paths"].items() for m in item}
        # "Try it" on /generate sends the example and shows the server's answer.
        generate = next(e for e in driver.find_elements("css selector", "details.operation")
                        if e.find_element("css selector", ".path").text == "/generate")
        generate.find_element("tag name", "summary").click()
        generate.find_element("tag name", "button").click()
        WebDriverWait(driver, 30).until(
            lambda d: generate.find_element("tag name", "pre").text.startswith("HTTP 200"))
        assert "generated_text" in generate.find_element("tag name", "pre").text
        shot = tmp_path / "docs.png"
        assert driver.save_screenshot(str(shot))
        copy_screenshot(shot)
    finally:
        driver.quit()
