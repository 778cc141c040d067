"""--prefix-caching: shared prompt prefixes reuse KV blocks and give the same greedy text."""
import concurrent.futures

import requests

ROUTER_ARGS = ()  # prefix caching is on by default


def generate(stack, prompt, n):
    resp = requests.post(stack.url + "/generate", timeout=60, json={
        "inputs": prompt, "parameters": {"max_new_tokens": n, "details": True}})
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_cache_hits_give_identical_greedy_text(stack, reference):
    ref = reference[0]
    # A prompt of several 16-token blocks: the reference prompt plus its own continuation.
    prompt = ref["prompt"] + ref["greedy_text"][:150]
    cold = generate(stack, prompt, 24)
    assert (stack.metric("tgi_prefix_cache_hit_tokens") or 0) == 0
    warm = generate(stack, prompt, 24)
    hits = stack.metric("tgi_prefix_cache_hit_tokens")
    assert hits >= 16
    assert warm["generated_text"] == cold["generated_text"]
    assert [t["id"] for t in warm["details"]["tokens"]] == [t["id"] for t in cold["details"]["tokens"]]
    # Same prefix, different ending: shares the leading blocks only.
    other = generate(stack, prompt[:-20] + " The sun was", 16)
    assert stack.metric("tgi_prefix_cache_hit_tokens") > hits
    assert other["details"]["generated_tokens"] == 16
    assert stack.metric("tgi_kv_blocks_used") == 0


def test_concurrent_identical_requests_with_caching(stack, reference):
    prompt = reference[1]["prompt"] + reference[1]["greedy_text"][:120]
    expected = generate(stack, prompt, 24)["generated_text"]

    def one(_):
        return generate(stack, prompt, 24)["generated_text"]

    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        texts = list(pool.map(one, range(32)))
    assert set(texts) == {expected}
    assert stack.metric("tgi_kv_blocks_used") == 0
