"""Structured-output validity on SmolLM2 (CPU): every answer constrained by a JSON Schema from
schema_corpus.py must parse and validate with `jsonschema` (formats checked too), and every answer
constrained by a regex from regex_corpus.py must `re.fullmatch` it. An answer cut by max_tokens
(finish_reason "length") is counted apart and fails the test: the corpora bound every answer's size
well under MAX_TOKENS, so a cut means the grammar let the model run on. A schema or regex the
server refuses must get a clean 422 naming the compile error; refusals are counted and listed.

CI runs a subset; TG_VALIDITY_SCHEMAS / TG_VALIDITY_REGEXES select more (the full suite is 1000 and
200), and TG_VALIDITY_REPORT=path writes the counts as JSON."""
import collections
import json
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor

import jsonschema
import requests

from regex_corpus import regex_corpus
from schema_corpus import schema_corpus

SCHEMA_COUNT = int(os.environ.get("TG_VALIDITY_SCHEMAS", "40"))
REGEX_COUNT = int(os.environ.get("TG_VALIDITY_REGEXES", "20"))
IN_FLIGHT = int(os.environ.get("TG_VALIDITY_IN_FLIGHT", "32"))
MAX_TOKENS = 192


def ask(smol, constraint):
    body = {"model": "smollm2", "max_tokens": MAX_TOKENS, "temperature": 0, **constraint}
    return requests.post(smol.url + "/v1/chat/completions", json=body, timeout=600)


class Tally:
    """Outcome counts plus the offending cases, so a failure names its schema/regex and output."""

    def __init__(self, total):
        self.total = total
        self.counts = collections.Counter()
        self.cases = collections.defaultdict(list)

    def add(self, outcome, case=None):
        self.counts[outcome] += 1
        if case is not None:
            self.cases[outcome].append(case)

    def summary(self):
        return {"total": self.total, **dict(self.counts), "cases": dict(self.cases)}


def classify(response, check, subject):
    """(outcome, case) for one HTTP answer; `check(text)` raises when the text is invalid."""
    if response.status_code == 422:
        error = response.json().get("error", response.text)
        return "refused_422", {"subject": subject, "error": error}
    if response.status_code != 200:
        return "http_error", {"subject": subject, "status": response.status_code,
                              "body": response.text}
    choice = response.json()["choices"][0]
    text = choice["message"]["content"]
    if choice["finish_reason"] == "length":
        return "cut_by_length", {"subject": subject, "output": text}
    try:
        check(text)
    except Exception as e:  # any parse/validation failure is an invalid answer under a grammar
        return "invalid", {"subject": subject, "output": text, "error": str(e)[:300]}
    return "valid", None


def run_all(smol, items, request_of, check_of):
    tally = Tally(len(items))
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        responses = pool.map(lambda item: ask(smol, request_of(item)), items)
        for item, response in zip(items, responses):
            tally.add(*classify(response, check_of(item), item))
    return tally


def report(kind, tally, seconds):
    summary = {"kind": kind, "seconds": round(seconds, 1), **tally.summary()}
    path = os.environ.get("TG_VALIDITY_REPORT")
    if path:
        with open(path + "." + kind + ".json", "w") as f:
            json.dump(summary, f, indent=1)
    print(kind, {k: v for k, v in summary.items() if k != "cases"})
    return summary


def assert_all_valid(tally, refusal_pattern):
    for case in tally.cases["refused_422"]:  # a refusal must be a clean compile error
        assert re.search(refusal_pattern, json.dumps(case["error"])), case
    bad = {k: tally.cases[k] for k in ("invalid", "cut_by_length", "http_error") if tally.cases[k]}
    assert not bad, json.dumps(bad, indent=1)[:8000]


def schema_check(schema):
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)

    def check(text):
        validator.validate(json.loads(text))

    return check


def test_json_schema_corpus_validates(smol):
    corpus = schema_corpus(SCHEMA_COUNT)
    for _, schema in corpus:  # the corpus itself must be well-formed JSON Schema
        jsonschema.Draft202012Validator.check_schema(schema)
    start = time.monotonic()
    tally = run_all(
        smol, corpus,
        lambda item: {"messages": [{"role": "user",
                                    "content": "Give an example %s as JSON." % item[0]}],
                      "response_format": {"type": "json_schema",
                                          "json_schema": {"name": item[0], "schema": item[1],
                                                          "strict": True}}},
        lambda item: schema_check(item[1]))
    report("schemas", tally, time.monotonic() - start)
    # Every corpus schema uses features xgrammar supports, so none may be refused.
    assert_all_valid(tally, r"(?!)")


def test_regex_corpus_fully_matches(smol):
    corpus = regex_corpus(REGEX_COUNT)
    for pattern in corpus:
        re.compile(pattern)
    start = time.monotonic()
    tally = run_all(
        smol, corpus,
        lambda pattern: {"messages": [{"role": "user", "content": "Answer with one value."}],
                         "guided_regex": pattern},
        lambda pattern: (lambda text: _assert_fullmatch(pattern, text)))
    report("regexes", tally, time.monotonic() - start)
    assert_all_valid(tally, r"grammar cannot be compiled")


def _assert_fullmatch(pattern, text):
    if re.fullmatch(pattern, text) is None:
        raise AssertionError("no full match")
