"""/v1/completions as evaluation harnesses use it: echo with prompt logprobs, max_tokens 0,
batched string and token-id prompts, n > 1 indexing, and vLLM's sampling extras, against the
HF reference (stories260K) through a real shard and router."""
import json
import math

import openai
import pytest
import requests


@pytest.fixture(scope="module")
def client(stack):
    return openai.OpenAI(base_url=stack.url + "/v1", api_key="unused", max_retries=0)


def log_softmax(logits):
    m = max(logits)
    norm = m + math.log(sum(math.exp(x - m) for x in logits))
    return [x - norm for x in logits]


def post(stack, body):
    return requests.post(stack.url + "/v1/completions", json=body, timeout=60)


def test_echo_scores_the_prompt_like_the_reference(client, reference):
    ref = reference[0]
    ids = ref["input_ids"] + ref["greedy_ids"][:8]
    out = client.completions.create(model="m", prompt=ids, echo=True, logprobs=2, max_tokens=0,
                                    temperature=0)
    choice = out.choices[0]
    lp = choice.logprobs
    assert out.usage.completion_tokens == 0 and out.usage.prompt_tokens == len(ids)
    assert len(lp.tokens) == len(ids) == len(lp.token_logprobs) == len(lp.text_offset)
    assert lp.token_logprobs[0] is None and lp.top_logprobs[0] is None
    # The first continuation token against the HF logits of the prompt's last position.
    expected = log_softmax(ref["last_logits"])[ref["greedy_ids"][0]]
    assert abs(lp.token_logprobs[len(ref["input_ids"])] - expected) < 1e-3
    # Greedy tokens are the top alternative at every continuation position.
    for p in range(len(ref["input_ids"]), len(ids)):
        top = lp.top_logprobs[p]
        assert len(top) == 2
        assert abs(max(top.values()) - lp.token_logprobs[p]) < 1e-5, p
    assert choice.text.endswith(client.completions.create(
        model="m", prompt=ref["prompt"], max_tokens=8, temperature=0).choices[0].text)
    offsets = lp.text_offset
    assert offsets == sorted(offsets) and offsets[1] == len(lp.tokens[0])


def test_echo_with_a_generated_token_appends_it(stack, reference):
    ref = reference[1]
    body = {"prompt": ref["prompt"], "echo": True, "logprobs": 1, "max_tokens": 1,
            "temperature": 0}
    choice = post(stack, body).json()["choices"][0]
    lp = choice["logprobs"]
    assert len(lp["tokens"]) == len(ref["input_ids"]) + 1
    assert choice["text"].startswith(ref["prompt"])
    expected = log_softmax(ref["last_logits"])[ref["greedy_ids"][0]]
    assert abs(lp["token_logprobs"][-1] - expected) < 1e-3


def test_prompt_lists_give_one_choice_per_prompt_and_n(stack, reference):
    prompts = [r["prompt"] for r in reference[:3]]
    body = {"prompt": prompts, "max_tokens": 6, "temperature": 0}
    out = post(stack, body).json()
    assert [c["index"] for c in out["choices"]] == [0, 1, 2]
    for c, r in zip(out["choices"], reference):
        assert r["greedy_text"].startswith(c["text"])
    assert out["usage"]["prompt_tokens"] == sum(len(r["input_ids"]) for r in reference[:3])
    # Token-id lists score the same as the strings they encode.
    ids = post(stack, {**body, "prompt": [r["input_ids"] for r in reference[:3]]}).json()
    assert [c["text"] for c in ids["choices"]] == [c["text"] for c in out["choices"]]
    # n choices per prompt: index = prompt * n + i, seeded choices reproducible.
    sampled = {"prompt": prompts[:2], "max_tokens": 5, "n": 2, "seed": 11, "temperature": 1.0}
    first = post(stack, sampled).json()
    assert [c["index"] for c in first["choices"]] == [0, 1, 2, 3]
    assert first["usage"]["completion_tokens"] == 20
    assert [c["text"] for c in post(stack, sampled).json()["choices"]] == \
        [c["text"] for c in first["choices"]]
    alone = post(stack, {**sampled, "prompt": prompts[1]}).json()
    assert [c["text"] for c in alone["choices"]] == [c["text"] for c in first["choices"][2:]]


def test_stop_token_ids_min_tokens_and_stop_reason(stack, reference):
    ref = reference[0]
    greedy = ref["greedy_ids"]
    body = {"prompt": ref["prompt"], "max_tokens": 12, "temperature": 0}
    # Stop on the third greedy token: excluded from the text unless asked, reported as reason.
    out = post(stack, {**body, "stop_token_ids": [greedy[2]]}).json()["choices"][0]
    assert out["finish_reason"] == "stop" and out["stop_reason"] == greedy[2]
    kept = post(stack, {**body, "stop_token_ids": [greedy[2]],
                        "include_stop_str_in_output": True}).json()["choices"][0]
    assert kept["text"].startswith(out["text"]) and len(kept["text"]) > len(out["text"])
    # A stop string is reported; include_stop_str_in_output keeps it.
    out = post(stack, {**body, "stop": ["little"]}).json()["choices"][0]
    assert out["stop_reason"] == "little" and "little" not in out["text"]
    out = post(stack, {**body, "stop": ["little"],
                       "include_stop_str_in_output": True}).json()["choices"][0]
    assert out["text"].endswith("little")
    # min_tokens: the stop token cannot end the request before 5 tokens.
    out = post(stack, {**body, "stop_token_ids": [greedy[0]], "min_tokens": 5}).json()
    assert out["usage"]["completion_tokens"] >= 5
    length = post(stack, body).json()["choices"][0]
    assert length["stop_reason"] is None and length["finish_reason"] == "length"


def test_logit_bias_steers_the_sampler(stack, reference):
    ref = reference[0]
    body = {"prompt": ref["prompt"], "max_tokens": 3, "temperature": 0, "logprobs": 1}
    forced = post(stack, {**body, "logit_bias": {"300": 100}}).json()["choices"][0]
    banned = post(stack, {**body, "logit_bias": {str(ref["greedy_ids"][0]): -100}}).json()
    first = banned["choices"][0]["logprobs"]["tokens"][0]
    # Token 300 three times (the first piece of a text has no leading space to show).
    assert len({t.strip() for t in forced["logprobs"]["tokens"]}) == 1
    assert forced["logprobs"]["token_logprobs"][0] > -0.01
    assert first != post(stack, body).json()["choices"][0]["logprobs"]["tokens"][0]


def test_continuous_usage_stats_in_every_chunk(stack, reference):
    body = {"prompt": reference[0]["prompt"], "max_tokens": 4, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True, "continuous_usage_stats": True}}
    with requests.post(stack.url + "/v1/completions", json=body, stream=True, timeout=60) as r:
        events = [json.loads(l[6:]) for l in r.iter_lines(decode_unicode=True)
                  if l and l.startswith("data: ") and l != "data: [DONE]"]
    token_chunks = [e for e in events if e["choices"]]
    assert [e["usage"]["completion_tokens"] for e in token_chunks] == [1, 2, 3, 4]
    assert events[-1]["usage"]["completion_tokens"] == 4


@pytest.mark.parametrize("body, field", [
    ({"prompt": []}, "prompt"),
    ({"prompt": [[1, 2], "x"]}, "prompt"),
    ({"prompt": [1, -2]}, "prompt"),
    ({"prompt": "x", "max_tokens": 0}, "max_tokens"),
    ({"prompt": "x", "logit_bias": {"a": 1}}, "logit_bias"),
    ({"prompt": "x", "logit_bias": {"1": 101}}, "logit_bias"),
    ({"prompt": "x", "min_tokens": 9, "max_tokens": 3}, "min_tokens"),
    ({"prompt": "x", "best_of": 3}, "best_of"),
    ({"prompt": "x", "suffix": "y"}, "suffix"),
    ({"prompt": "x", "guided_json": 5}, "guided_json"),
    # Found invalid by the shard, which knows the vocabulary: its error kind crosses the process
    # boundary intact (it used to be a 424 "generation" error).
    ({"prompt": [1, 99999], "max_tokens": 2}, "token id 99999"),
    ({"prompt": "x", "max_tokens": 2, "stop_token_ids": [99999]}, "stop_token_ids"),
    ({"prompt": "x", "max_tokens": 2, "logit_bias": {"99999": 5}}, "logit_bias"),
])
def test_unsupported_or_invalid_is_a_422_naming_it(stack, body, field):
    r = post(stack, body)
    assert r.status_code == 422, r.text
    assert field in r.json()["error"]["message"]
    assert requests.get(stack.url + "/health", timeout=10).status_code == 200
