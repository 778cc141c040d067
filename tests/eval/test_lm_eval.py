"""lm-evaluation-harness end to end: the local tasks in this folder scored twice on stories260K,
by lm-eval's `hf` backend (transformers, float32) and by its `local-completions` backend
against our server (real shard and router processes). Every per-item loglikelihood must agree
within 1e-3, and the accuracy must be identical."""
import glob
import json
import os
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "router", "integration"))
from conftest import MODEL, Stack  # noqa: E402

lm_eval = pytest.importorskip("lm_eval")
TASKS = ["tinystories_mc", "tinystories_rolling"]
TOLERANCE = 1e-3


def evaluate(model, model_args, out_dir):
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    cwd = os.getcwd()
    os.chdir(HERE)  # the task files name their data relative to this folder
    try:
        results = simple_evaluate(model=model, model_args=model_args, tasks=TASKS,
                                  task_manager=TaskManager(include_path=HERE), log_samples=True,
                                  batch_size=8, device="cpu")
    finally:
        os.chdir(cwd)
    samples = {}
    for task in TASKS:
        rows = sorted(results["samples"][task], key=lambda s: s["doc_id"])
        # One loglikelihood per request: per choice (multiple choice) or per document (rolling).
        samples[task] = [[float(r[0][0] if isinstance(r[0], (list, tuple)) else r[0])
                          for r in row["resps"]] for row in rows]
    with open(os.path.join(out_dir, model + ".json"), "w") as f:
        json.dump({"results": results["results"], "samples": samples}, f, indent=1)
    return results["results"], samples


@pytest.fixture(scope="module")
def server():
    s = Stack()
    try:
        yield s
    finally:
        s.close()


def test_local_completions_matches_transformers(server):
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    out_dir = tempfile.mkdtemp(prefix="tg-lm-eval-")
    # Neither backend adds BOS to the contexts (local-completions' default), so both score the
    # same token sequences; loglikelihood_rolling prefixes BOS in both.
    hf_results, hf = evaluate("hf", "pretrained=%s,dtype=float32,add_bos_token=False" % MODEL,
                              out_dir)
    api_results, api = evaluate(
        "local-completions",
        "model=stories260K,base_url=%s/v1/completions,tokenizer_backend=huggingface,"
        "tokenizer=%s,num_concurrent=4,max_retries=1" % (server.url, MODEL), out_dir)
    worst = {}
    for task in TASKS:
        assert len(hf[task]) == len(api[task]) > 0, task
        diffs = [abs(a - b) for x, y in zip(hf[task], api[task]) for a, b in zip(x, y)]
        assert len(diffs) == sum(len(x) for x in hf[task]), task
        worst[task] = max(diffs)
        assert worst[task] <= TOLERANCE, (task, worst[task], out_dir)
    print("max |loglikelihood difference| per task:", worst)
    assert len(hf["tinystories_mc"]) >= 50
    assert hf_results["tinystories_mc"]["acc,none"] == api_results["tinystories_mc"]["acc,none"]
    for metric in ("word_perplexity,none", "bits_per_byte,none"):
        h = hf_results["tinystories_rolling"][metric]
        a = api_results["tinystories_rolling"][metric]
        assert abs(h - a) <= 1e-3 * abs(h), (metric, h, a)
