"""Constrained decoding end to end on SmolLM2 (CPU): every answer must parse and validate against
its JSON Schema (Python `jsonschema`), fully match its regex, or be one of its choices. Requests
run concurrently, so constrained and free requests share batches."""
import json
import re
from concurrent.futures import ThreadPoolExecutor

import jsonschema
import openai
import pydantic
import requests
from text_generation import Client
from text_generation.types import Grammar, GrammarType

SCHEMAS = {
    "nested": {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 20},
            "address": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "maxLength": 20},
                    "zip": {"type": "string", "pattern": "^[0-9]{5}$"},
                },
                "required": ["city", "zip"],
            },
        },
        "required": ["name", "address"],
    },
    "enum": {
        "type": "object",
        "properties": {
            "color": {"enum": ["red", "green", "blue"]},
            "size": {"type": "integer", "minimum": 1, "maximum": 10},
        },
        "required": ["color", "size"],
    },
    "array": {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 10},
                     "minItems": 2, "maxItems": 3},
        },
        "required": ["tags"],
    },
    "refs": {
        "$defs": {
            "point": {
                "type": "object",
                "properties": {"x": {"type": "integer", "minimum": -99, "maximum": 99},
                               "y": {"type": "integer", "minimum": -99, "maximum": 99}},
                "required": ["x", "y"],
            }
        },
        "type": "object",
        "properties": {"start": {"$ref": "#/$defs/point"}, "end": {"$ref": "#/$defs/point"}},
        "required": ["start", "end"],
    },
    "anyof": {
        "type": "object",
        "properties": {
            "ok": {"type": "boolean"},
            "value": {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 1000}, {"type": "null"}]},
        },
        "required": ["ok", "value"],
    },
}

REGEXES = [
    r"\d{3}-\d{4}",
    r"(yes|no)",
    r"[A-Z][a-z]{2,8}",
    r"\d{4}-\d{2}-\d{2}",
    r"[a-z]{1,8}@[a-z]{1,8}\.com",
    r"#[0-9a-f]{6}",
    r"(\+|-)?[0-9]{1,3}\.[0-9]{2}",
    r"[A-Z]{2}[0-9]{2} [A-Z]{3}",
    r"(cat|dog|bird)s?",
    r"0x[0-9A-F]{4}",
]


def chat(smol, body):
    body = {"model": "smollm2", "max_tokens": 120, "temperature": 0, **body}
    r = requests.post(smol.url + "/v1/chat/completions", json=body, timeout=300)
    return r


def test_json_schemas_validate(smol):
    def run(item):
        name, schema = item
        r = chat(smol, {
            "messages": [{"role": "user", "content": "Give an example %s record as JSON." % name}],
            "response_format": {"type": "json_schema",
                                "json_schema": {"name": name, "schema": schema, "strict": True}},
        })
        return name, schema, r

    with ThreadPoolExecutor(len(SCHEMAS) + 1) as pool:
        free = pool.submit(chat, smol, {"messages": [{"role": "user", "content": "Say hi."}],
                                        "max_tokens": 20})
        results = list(pool.map(run, SCHEMAS.items()))
        assert free.result().status_code == 200  # a free request in the same batches
    for name, schema, r in results:
        assert r.status_code == 200, (name, r.text)
        choice = r.json()["choices"][0]
        assert choice["finish_reason"] == "stop", (name, choice)
        value = json.loads(choice["message"]["content"])
        jsonschema.validate(value, schema)


# Properties out of alphabetical order: the grammar writes an object's properties in schema order,
# so the answer's keys come in the order the client wrote them, through every API.
ORDERED = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 20},
                   "age": {"type": "integer", "minimum": 0, "maximum": 120},
                   "city": {"type": "string", "maxLength": 20}},
    "required": ["name", "age", "city"],
}
ORDERED_KEYS = ["name", "age", "city"]


def test_keys_come_in_schema_order(smol):
    prompt = "A person (name, age, city) as JSON."
    r = chat(smol, {"messages": [{"role": "user", "content": prompt}],
                    "response_format": {"type": "json_schema",
                                        "json_schema": {"name": "person", "schema": ORDERED}}})
    assert r.status_code == 200, r.text
    assert list(json.loads(r.json()["choices"][0]["message"]["content"])) == ORDERED_KEYS
    r = requests.post(smol.url + "/generate", timeout=300, json={
        "inputs": prompt, "parameters": {"max_new_tokens": 60,
                                         "grammar": {"type": "json", "value": ORDERED}}})
    assert r.status_code == 200, r.text
    assert list(json.loads(r.json()["generated_text"])) == ORDERED_KEYS


def test_regexes_fully_match(smol):
    def run(pattern):
        r = chat(smol, {"messages": [{"role": "user", "content": "Answer with one value."}],
                        "guided_regex": pattern, "max_tokens": 40})
        return pattern, r

    with ThreadPoolExecutor(len(REGEXES)) as pool:
        results = list(pool.map(run, REGEXES))
    for pattern, r in results:
        assert r.status_code == 200, (pattern, r.text)
        choice = r.json()["choices"][0]
        assert choice["finish_reason"] == "stop", (pattern, choice)
        assert re.fullmatch(pattern, choice["message"]["content"]), (pattern, choice)


def test_choice_and_json_object(smol):
    r = chat(smol, {"messages": [{"role": "user", "content": "Is the sky blue?"}],
                    "guided_choice": ["yes", "no", "maybe \"so\""]})
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] in ["yes", "no", "maybe \"so\""]
    r = chat(smol, {"messages": [{"role": "user", "content": "A JSON object about a cat."}],
                    "response_format": {"type": "json_object"}, "max_tokens": 200})
    assert r.status_code == 200, r.text
    choice = r.json()["choices"][0]
    if choice["finish_reason"] == "stop":
        json.loads(choice["message"]["content"])
    else:  # free JSON may be long; what was produced is still a valid JSON prefix
        assert choice["message"]["content"].lstrip()[:1] in "{[\"-0123456789tfn"


def test_tgi_client_grammar(smol):
    client = Client(smol.url, timeout=300)
    schema = SCHEMAS["enum"]
    out = client.generate("A shirt as JSON:", max_new_tokens=60,
                          grammar=Grammar(type=GrammarType.Json, value=schema))
    jsonschema.validate(json.loads(out.generated_text), schema)
    out = client.generate("Phone number:", max_new_tokens=20,
                          grammar=Grammar(type=GrammarType.Regex, value=r"\d{3}-\d{4}"))
    assert re.fullmatch(r"\d{3}-\d{4}", out.generated_text), out.generated_text


class Weather(pydantic.BaseModel):
    city: str = pydantic.Field(max_length=20)
    celsius: int = pydantic.Field(ge=-50, le=60)
    sunny: bool


def test_openai_parse_pydantic(smol):
    client = openai.OpenAI(base_url=smol.url + "/v1", api_key="none")
    completions = client.beta.chat.completions if hasattr(client, "beta") else client.chat.completions
    completion = completions.parse(
        model="smollm2", temperature=0, max_tokens=80,
        messages=[{"role": "user", "content": "The weather in Paris today, as JSON."}],
        response_format=Weather)
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, Weather), completion


def test_bad_grammars_are_422(smol):
    cases = [
        {"guided_regex": "(unclosed"},
        {"response_format": {"type": "json_schema",
                             "json_schema": {"name": "x", "schema": {"type": "object", "properties": {"a": {"type": "nosuchtype"}}}}}},
        {"response_format": {"type": "yaml"}},
        {"guided_regex": "a", "guided_choice": ["a"]},
    ]
    for extra in cases:
        r = chat(smol, {"messages": [{"role": "user", "content": "x"}], **extra})
        assert r.status_code == 422, (extra, r.status_code, r.text)
    r = requests.post(smol.url + "/generate", json={
        "inputs": "x", "parameters": {"grammar": {"type": "regex", "value": "[z-a]"}}}, timeout=60)
    assert r.status_code == 422, r.text
