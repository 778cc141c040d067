"""OpenAI API through the official `openai` client, against a real shard and HF references."""
import os

import openai
import pytest
import requests

from conftest import HERE

ROUTER_ARGS = ("--chat-template", os.path.join(HERE, "story_chat.jinja"),
               "--served-model-name", "stories")


@pytest.fixture(scope="module")
def client(stack):
    return openai.OpenAI(base_url=stack.url + "/v1", api_key="unused", max_retries=0)


def test_models_lists_the_served_name(client):
    assert [m.id for m in client.models.list().data] == ["stories"]


def test_greedy_completion_matches_reference(client, reference):
    ref = reference[0]
    out = client.completions.create(model="stories", prompt=ref["prompt"], temperature=0,
                                    max_tokens=len(ref["greedy_ids"]))
    assert out.choices[0].text == ref["greedy_text"]
    assert out.choices[0].finish_reason == "length"
    assert out.usage.prompt_tokens == len(ref["input_ids"])
    assert out.usage.completion_tokens == len(ref["greedy_ids"])


def test_streamed_completion_with_usage(client, reference):
    ref = reference[1]
    chunks = list(client.completions.create(model="stories", prompt=ref["prompt"], temperature=0,
                                            max_tokens=30, stream=True,
                                            stream_options={"include_usage": True}))
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert ref["greedy_text"].startswith(text) and len(text) > 0
    assert chunks[-1].usage.completion_tokens == 30
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"


def test_chat_completion_through_the_template(client, reference):
    # The template renders "<s>" + the user's text, so the chat prompt is the reference prompt.
    ref = reference[0]
    out = client.chat.completions.create(
        model="stories", messages=[{"role": "user", "content": ref["prompt"]}], temperature=0,
        max_tokens=len(ref["greedy_ids"]))
    assert out.choices[0].message.role == "assistant"
    assert out.choices[0].message.content == ref["greedy_text"]
    assert out.usage.prompt_tokens == len(ref["input_ids"])
    stream = client.chat.completions.create(
        model="stories", messages=[{"role": "user", "content": ref["prompt"]}], temperature=0,
        max_completion_tokens=len(ref["greedy_ids"]), stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream) == ref["greedy_text"]


def test_chat_n_logprobs_stop_seed(client, reference):
    ref = reference[0]
    messages = [{"role": "user", "content": ref["prompt"]}]
    out = client.chat.completions.create(model="stories", messages=messages, temperature=0,
                                         max_tokens=8, n=2, logprobs=True, top_logprobs=2)
    assert len(out.choices) == 2
    assert out.choices[0].message.content == out.choices[1].message.content
    content = out.choices[0].logprobs.content
    assert len(content) == 8
    assert all(len(c.top_logprobs) == 2 for c in content)
    stopped = client.chat.completions.create(model="stories", messages=messages, temperature=0,
                                             max_tokens=64, stop=[" girl"])
    assert stopped.choices[0].message.content == ref["greedy_text"][: ref["greedy_text"].index(" girl")]
    assert stopped.choices[0].finish_reason == "stop"
    a = client.chat.completions.create(model="stories", messages=messages, seed=3, max_tokens=12)
    b = client.chat.completions.create(model="stories", messages=messages, seed=3, max_tokens=12)
    assert a.choices[0].message.content == b.choices[0].message.content


def test_openai_errors(client, stack):
    with pytest.raises(openai.UnprocessableEntityError) as error:
        client.completions.create(model="stories", prompt="Hi", max_tokens=4,
                                  extra_body={"bogus_param": 1})
    assert "bogus_param" in str(error.value)
    with pytest.raises(openai.UnprocessableEntityError):
        client.completions.create(model="stories", prompt="Hi", max_tokens=100000)
    resp = requests.post(stack.url + "/v1/chat/completions", data=b"{nope")
    assert resp.status_code == 422
    assert "message" in resp.json()["error"]


def test_streamed_chat_never_shows_the_stop_sequence(client, reference):
    ref = reference[0]
    stream = client.chat.completions.create(
        model="stories", messages=[{"role": "user", "content": ref["prompt"]}], temperature=0,
        max_tokens=64, stop=[" little girl"], stream=True)
    chunks = [c.choices[0].delta.content or "" for c in stream]
    assert "".join(chunks) == ref["greedy_text"][: ref["greedy_text"].index(" little girl")]
    assert not any("little" in c for c in chunks)


def test_sampled_responses_return_the_seed_that_replays_them(client, reference):
    # A sampled request without a seed gets one drawn in validation, returned as `seed` (choice i
    # of n samples with seed + i); sending it back gives the same text, choice for choice.
    messages = [{"role": "user", "content": reference[0]["prompt"]}]
    first = client.chat.completions.create(model="stories", messages=messages, max_tokens=24, n=2)
    seed = first.model_extra["seed"]
    assert isinstance(seed, int)
    replay = client.chat.completions.create(model="stories", messages=messages, max_tokens=24,
                                            n=2, seed=seed)
    assert replay.model_extra["seed"] == seed
    assert [c.message.content for c in replay.choices] == [c.message.content for c in first.choices]
    other = client.chat.completions.create(model="stories", messages=messages, max_tokens=24,
                                           seed=seed + 1000)
    assert other.choices[0].message.content != first.choices[0].message.content
    second = client.chat.completions.create(model="stories", messages=messages, max_tokens=24)
    assert second.model_extra["seed"] != seed, "each unseeded request draws its own"

    # Streamed: the final chunk carries it.
    chunks = list(client.chat.completions.create(model="stories", messages=messages,
                                                 max_tokens=24, stream=True))
    finals = [c for c in chunks if c.choices[0].finish_reason]
    assert len(finals) == 1 and isinstance(finals[0].model_extra["seed"], int)
    assert all("seed" not in (c.model_extra or {}) for c in chunks if not c.choices[0].finish_reason)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    replay = client.chat.completions.create(model="stories", messages=messages, max_tokens=24,
                                            seed=finals[0].model_extra["seed"])
    assert replay.choices[0].message.content == streamed

    # Completions with several prompts share one seed, which replays every choice.
    prompts = [reference[0]["prompt"], reference[1]["prompt"]]
    out = client.completions.create(model="stories", prompt=prompts, max_tokens=16, n=2)
    again = client.completions.create(model="stories", prompt=prompts, max_tokens=16, n=2,
                                      seed=out.model_extra["seed"])
    assert [c.text for c in again.choices] == [c.text for c in out.choices]

    # Greedy requests have no seed.
    greedy = client.chat.completions.create(model="stories", messages=messages, max_tokens=4,
                                            temperature=0)
    assert "seed" not in (greedy.model_extra or {})
