"""reasoning_content end to end: SmolLM2's weights behind Qwen3's chat template, whose answers
open a <think> block. A regex makes the small model write one, so the split is known; the
streamed reasoning_content and content deltas must reassemble into the non-streamed message."""
import re

import openai
import pytest

THINKING = r"<think>\n[a-z ]{5,40}\n</think>\n\n[A-Z][a-z ]{5,40}"
QUESTION = [{"role": "user", "content": "Is the sky blue?"}]


@pytest.fixture(scope="module")
def client(smol_qwen3_template):
    return openai.OpenAI(base_url=smol_qwen3_template.url + "/v1", api_key="unused")


def ask(client, **kwargs):
    args = dict(model="smollm2", messages=QUESTION, temperature=0, max_tokens=60)
    args.update(kwargs)
    return client.chat.completions.create(**args)


def streamed(client, **kwargs):
    reasoning, content, finish = "", "", None
    for chunk in ask(client, stream=True, **kwargs):
        for choice in chunk.choices:
            reasoning += getattr(choice.delta, "reasoning_content", None) or ""
            content += choice.delta.content or ""
            finish = choice.finish_reason or finish
    return reasoning, content, finish


def test_think_block_is_reasoning_content_whole_and_streamed(client):
    message = ask(client, extra_body={"guided_regex": THINKING}).choices[0].message
    reasoning = message.model_extra["reasoning_content"]
    assert re.fullmatch(r"[a-z ]{5,40}\n", reasoning), reasoning
    assert re.fullmatch(r"[A-Z][a-z ]{5,40}", message.content), message.content
    assert streamed(client, extra_body={"guided_regex": THINKING}) == (reasoning, message.content,
                                                                        "stop")


def test_answer_without_thinking_is_all_content(client):
    message = ask(client, max_tokens=8).choices[0].message
    assert message.model_extra["reasoning_content"] is None
    assert message.content and "<think>" not in message.content
    reasoning, content, _ = streamed(client, max_tokens=8)
    assert (reasoning, content) == ("", message.content)
