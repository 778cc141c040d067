"""Tool calling end to end on SmolLM2 (CPU), whose chat template has no tool format: the tools
reach the model through the tool prompt, and `required` / a named function / `auto` are
constrained by the grammar, so every call is valid by construction. Driven by the real `openai`
client; arguments are checked with `jsonschema`, and a streamed answer must reassemble into the
same calls as the same request answered whole, its arguments arriving in pieces while they are
generated."""
import json

import jsonschema
import openai
import pytest
import requests

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "maxLength": 20},
                "unit": {"enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Local time in a time zone",
        "parameters": {
            "type": "object",
            "properties": {"zone": {"type": "string", "maxLength": 12}},
            "required": ["zone"],
        },
    },
}
NOTE = {
    "type": "function",
    "function": {
        "name": "save_note",
        "description": "Saves a note",
        "parameters": {
            "type": "object",
            "properties": {"title": {"type": "string", "maxLength": 30},
                           "text": {"type": "string", "minLength": 60, "maxLength": 120}},
            "required": ["title", "text"],
            "additionalProperties": False,
        },
    },
}
QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]
# SmolLM2 answers this with three calls when it may make several (greedy).
THREE_CITIES = [{"role": "user", "content": "Get the weather for Paris, London and Rome."}]
SCHEMAS = {t["function"]["name"]: t["function"]["parameters"] for t in (WEATHER, TIME, NOTE)}


@pytest.fixture(scope="module")
def client(smol):
    return openai.OpenAI(base_url=smol.url + "/v1", api_key="unused")


def ask(client, **kwargs):
    args = dict(model="smollm2", messages=QUESTION, tools=[WEATHER, TIME], temperature=0,
                max_tokens=80)
    args.update(kwargs)
    return client.chat.completions.create(**args)


def streamed_calls(client, **kwargs):
    """Reassembles delta.tool_calls by index, as OpenAI's clients do."""
    calls, finish, content = {}, None, ""
    for chunk in ask(client, stream=True, **kwargs):
        for choice in chunk.choices:
            delta = choice.delta
            content += delta.content or ""
            for part in delta.tool_calls or []:
                call = calls.setdefault(part.index, {"id": None, "name": "", "arguments": ""})
                call["id"] = part.id or call["id"]
                if part.function and part.function.name:
                    call["name"] += part.function.name
                if part.function and part.function.arguments:
                    call["arguments"] += part.function.arguments
            finish = choice.finish_reason or finish
    return [calls[i] for i in sorted(calls)], finish, content


def check_call(call, name=None):
    assert call.type == "function" and call.id.startswith("call_")
    if name:
        assert call.function.name == name
    jsonschema.validate(json.loads(call.function.arguments), SCHEMAS[call.function.name])


def test_required_returns_a_call_whose_arguments_validate(client):
    answer = ask(client, tool_choice="required")
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert len(choice.message.tool_calls) == 1
    check_call(choice.message.tool_calls[0])


def test_named_function_is_the_one_called(client):
    choice = ask(client, tool_choice={"type": "function", "function": {"name": "get_time"}}).choices[0]
    assert choice.finish_reason == "tool_calls"
    check_call(choice.message.tool_calls[0], "get_time")


@pytest.mark.parametrize("parallel", [True, False])
def test_streamed_deltas_reassemble_into_the_same_calls(client, parallel):
    args = dict(messages=THREE_CITIES, tool_choice="required", parallel_tool_calls=parallel,
                max_tokens=160)
    whole = ask(client, **args)
    calls, finish, content = streamed_calls(client, **args)
    assert finish == "tool_calls" and content == ""
    assert len(calls) == (3 if parallel else 1)
    assert all(call["id"].startswith("call_") for call in calls)
    assert [(c["name"], c["arguments"]) for c in calls] == [
        (c.function.name, c.function.arguments) for c in whole.choices[0].message.tool_calls]


def raw_chunks(smol, **body):
    """The SSE chunks of a streamed chat answer, as JSON, read without a client library."""
    request = {"model": "smollm2", "messages": QUESTION, "temperature": 0, "max_tokens": 120,
               "stream": True, **body}
    chunks = []
    with requests.post(smol.url + "/v1/chat/completions", json=request, stream=True,
                       timeout=120) as r:
        assert r.status_code == 200
        for line in r.iter_lines(decode_unicode=True):
            if line.startswith("data: ") and line != "data: [DONE]":
                chunks.append(json.loads(line[len("data: "):]))
    return chunks


def test_arguments_stream_while_they_are_generated(smol, client):
    """As OpenAI streams a call: its first chunk has index, id, type and the name with empty
    arguments, then argument text follows in many chunks (here, a 60+ character note)."""
    body = {"tools": [NOTE], "tool_choice": "required", "parallel_tool_calls": False,
            "messages": [{"role": "user", "content": "Save a note about the weather in Paris."}]}
    parts = [c["choices"][0]["delta"]["tool_calls"][0] for c in raw_chunks(smol, **body)
             if c["choices"] and c["choices"][0]["delta"].get("tool_calls")]
    first = parts[0]
    assert first["index"] == 0 and first["id"].startswith("call_") and first["type"] == "function"
    assert first["function"] == {"name": "save_note", "arguments": ""}
    fragments = [p["function"]["arguments"] for p in parts[1:]]
    assert all(p["index"] == 0 and "id" not in p and "name" not in p["function"] for p in parts[1:])
    assert len(fragments) >= 10, fragments
    whole = client.chat.completions.create(**body, model="smollm2", temperature=0,
                                           max_tokens=120).choices[0].message.tool_calls
    assert len(whole) == 1 and "".join(fragments) == whole[0].function.arguments
    jsonschema.validate(json.loads("".join(fragments)), NOTE["function"]["parameters"])


def test_arguments_come_in_schema_order(client):
    """NOTE lists `title` before `text`: the arguments are written in that order, not sorted."""
    call = ask(client, tools=[NOTE], tool_choice={"type": "function", "function": {"name": "save_note"}},
               messages=[{"role": "user", "content": "Save a note about the weather in Paris."}],
               max_tokens=120).choices[0].message.tool_calls[0]
    assert list(json.loads(call.function.arguments)) == ["title", "text"]


def test_parallel_tool_calls(client):
    """parallel_tool_calls false: the grammar allows exactly one call. True (the default): a list
    of one or more calls, each valid by construction."""
    one = ask(client, messages=THREE_CITIES, tool_choice="required", parallel_tool_calls=False)
    assert one.choices[0].finish_reason == "tool_calls"
    assert len(one.choices[0].message.tool_calls) == 1
    check_call(one.choices[0].message.tool_calls[0])
    many = ask(client, messages=THREE_CITIES, tool_choice="required", max_tokens=160)
    choice = many.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert len(choice.message.tool_calls) == 3
    for call in choice.message.tool_calls:
        check_call(call)
    assert len({call.id for call in choice.message.tool_calls}) == 3


def test_auto_is_a_valid_call_or_a_plain_answer(client):
    # Greedy SmolLM2 answers these plainly. (Its answer to QUESTION depends on the tool prompt's
    # exact text: since the parameters are printed in the client's key order, it runs on past
    # 120 tokens, so a question it ends is asked instead.)
    weather = [{"role": "user", "content": "What's the weather like in Paris?"}]
    for messages in (weather, [{"role": "user", "content": "Say hello."}]):
        choice = ask(client, messages=messages, tool_choice="auto", max_tokens=120).choices[0]
        if choice.message.tool_calls:
            assert choice.finish_reason == "tool_calls"
            check_call(choice.message.tool_calls[0])
        else:
            # The no_tool answer comes back as content, never as the JSON around it.
            assert choice.finish_reason == "stop"
            assert choice.message.content and "no_tool" not in choice.message.content


def test_next_turn_takes_the_call_and_its_result(client):
    call = ask(client, tool_choice="required").choices[0].message.tool_calls[0]
    messages = QUESTION + [
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "18 degrees and sunny"},
    ]
    choice = ask(client, messages=messages, tool_choice="none", max_tokens=20).choices[0]
    assert choice.finish_reason in ("stop", "length")
    assert choice.message.tool_calls is None and isinstance(choice.message.content, str)


def test_bad_tool_requests_are_422(client):
    with pytest.raises(openai.UnprocessableEntityError, match="nope"):
        ask(client, tool_choice={"type": "function", "function": {"name": "nope"}})
    with pytest.raises(openai.UnprocessableEntityError, match="response_format"):
        ask(client, tool_choice="required", response_format={"type": "json_object"})
    with pytest.raises(openai.UnprocessableEntityError, match="tools"):
        ask(client, tools=[{"type": "function", "function": {"name": "bad name"}}])
    with pytest.raises(openai.UnprocessableEntityError, match="parallel_tool_calls"):
        ask(client, tool_choice="required", parallel_tool_calls="no")


def test_template_with_a_tool_format_renders_tools_and_history(smol_qwen3_template):
    """Qwen3's template has its own tool format: the tools and earlier calls go through it (the
    prompt grows by the tool list), and a forced call is still valid by construction."""
    qwen = openai.OpenAI(base_url=smol_qwen3_template.url + "/v1", api_key="unused")
    plain = ask(qwen, tool_choice="none", max_tokens=1).usage.prompt_tokens
    answer = ask(qwen, tool_choice="required")
    assert answer.usage.prompt_tokens > plain + 50
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    check_call(call)
    messages = QUESTION + [
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "18 degrees and sunny"},
    ]
    again = ask(qwen, messages=messages, tool_choice="required")
    assert again.usage.prompt_tokens > answer.usage.prompt_tokens
    check_call(again.choices[0].message.tool_calls[0])
