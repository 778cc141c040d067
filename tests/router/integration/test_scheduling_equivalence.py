"""Chunked prefill, mixed batches, prefix caching and preemption change when positions are
computed, never what is generated: greedy tokens must be identical with each of them on or off,
at concurrency 1 and many (float32 on the CPU is batch invariant). Every configuration must also
hand all its KV blocks back."""
import concurrent.futures
import json
import os
import time

import pytest
import requests

from conftest import HERE, Stack, load_reference

SMOLLM2 = os.path.join(HERE, "../../../models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf")

# Everything off: whole prompts, every position computed, KV reserved as the sequence grows.
BASELINE = ("--prefix-caching", "false", "--chunked-prefill", "false")
VARIANTS = {
    "defaults": (),
    # A 16-token step budget splits every prompt and leaves few tokens beside the decodes.
    "small_chunks": ("--max-batch-prefill-tokens", "16"),
    "chunks_without_cache": ("--max-batch-prefill-tokens", "24", "--prefix-caching", "false"),
    # 20 blocks of 16 for 12 requests of up to ~120 positions: requests get preempted.
    "preemption": ("--max-batch-total-tokens", "320", "--max-total-tokens", "256",
                   "--max-batch-prefill-tokens", "32"),
}


def stories_prompts():
    """Prompts of 5 to ~100 tokens; several share long prefixes (prefix-cache hits)."""
    prompts = []
    for ref in load_reference():
        prompts.append(ref["prompt"])
        prompts.append(ref["prompt"] + ref["greedy_text"][:200])
    base = prompts[1]
    prompts += [base + " The end.", base + " Then she", base]
    return prompts


def generate_ids(stack, prompt, max_new_tokens):
    resp = requests.post(stack.url + "/generate", timeout=120, json={
        "inputs": prompt,
        "parameters": {"max_new_tokens": max_new_tokens, "details": True, "ignore_eos": True}})
    assert resp.status_code == 200, resp.text
    return [t["id"] for t in resp.json()["details"]["tokens"]]


def run_all(stack, prompts, max_new_tokens, concurrency):
    if concurrency == 1:
        return [generate_ids(stack, p, max_new_tokens) for p in prompts]
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(lambda p: generate_ids(stack, p, max_new_tokens), prompts))


def wait_blocks_free(stack):
    deadline = time.time() + 10
    while time.time() < deadline and (stack.metric("tgi_kv_blocks_used") or
                                      stack.metric("tgi_running_requests")):
        time.sleep(0.05)
    assert stack.metric("tgi_kv_blocks_used") == 0
    assert stack.metric("tgi_running_requests") == 0


@pytest.fixture(scope="module")
def expected():
    prompts = stories_prompts()
    stack = Stack(router_args=BASELINE)
    try:
        return prompts, run_all(stack, prompts, 24, 1)
    finally:
        stack.close()


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_greedy_tokens_are_identical_to_the_baseline(name, expected):
    prompts, want = expected
    stack = Stack(router_args=VARIANTS[name])
    try:
        assert run_all(stack, prompts, 24, 1) == want
        # Many at once, twice over: mixed steps, shared prefixes in flight, cache hits.
        assert run_all(stack, prompts * 2, 24, len(prompts) * 2) == want * 2
        wait_blocks_free(stack)
        prompt_tokens = stack.metric("tgi_prompt_tokens")
        hits = stack.metric("tgi_prefix_cache_hit_tokens") or 0
        assert prompt_tokens > 0
        if "--prefix-caching" in VARIANTS[name]:
            assert hits == 0
        else:
            assert hits > 0.2 * prompt_tokens, (hits, prompt_tokens)
        if name == "preemption":
            assert stack.metric("tgi_request_preempted") > 0
    finally:
        stack.close()


def test_repeated_prefix_grows_the_hit_counter_and_skips_compute():
    stack = Stack()
    try:
        ref = load_reference()[0]
        prompt = ref["prompt"] + ref["greedy_text"][:200]
        first = generate_ids(stack, prompt, 8)
        hits = stack.metric("tgi_prefix_cache_hit_tokens") or 0
        assert hits == 0
        prompt_tokens = stack.metric("tgi_prompt_tokens")
        assert generate_ids(stack, prompt, 8) == first
        # Every full block but the one holding the last prompt token came from the cache.
        assert stack.metric("tgi_prefix_cache_hit_tokens") >= prompt_tokens - 16 - 15
        assert stack.metric("tgi_prompt_tokens") == 2 * prompt_tokens
        wait_blocks_free(stack)
    finally:
        stack.close()


def test_cancelled_request_in_the_middle_of_its_prompt_frees_its_blocks():
    # A 4-token budget: the prompt takes many steps, so the client leaves during its prefill.
    stack = Stack(router_args=("--max-batch-prefill-tokens", "4", "--prefix-caching", "false"))
    try:
        ref = load_reference()[0]
        body = {"inputs": ref["prompt"] + ref["greedy_text"][:300],
                "parameters": {"max_new_tokens": 200, "ignore_eos": True}}
        resp = requests.post(stack.url + "/generate_stream", json=body, stream=True, timeout=60)
        assert resp.status_code == 200
        deadline = time.time() + 5
        while not stack.metric("tgi_kv_blocks_used") and time.time() < deadline:
            time.sleep(0.002)
        assert stack.metric("tgi_kv_blocks_used") > 0
        resp.close()
        wait_blocks_free(stack)
        assert generate_ids(stack, "Hi", 2)
    finally:
        stack.close()


@pytest.mark.skipif(not os.path.exists(SMOLLM2), reason="models/SmolLM2-135M-Instruct not fetched")
def test_smollm2_greedy_tokens_with_chunks_and_cache_match_whole_prompts():
    prompts = ["The capital of France is", "Write a haiku about the sea.",
               "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
               "The capital of France is Paris. The capital of Germany is"]
    results = []
    # Whole prompts one at a time, then 8-token chunks of all of them at once (mixed steps).
    for args, concurrency in ((BASELINE, 1), (("--max-batch-prefill-tokens", "8"), len(prompts))):
        stack = Stack(router_args=args, shard_threads=2, model=SMOLLM2)
        try:
            results.append(run_all(stack, prompts, 6, concurrency))
            wait_blocks_free(stack)
        finally:
            stack.close()
    assert results[0] == results[1], json.dumps(results)
