"""Items per second of lm-eval's local-completions backend scoring tests/eval/tinystories_mc
(50 items, 200 loglikelihood requests) against a running server: 1 and 8 concurrent harness
requests of one prompt each, and 1 request at a time carrying 8 prompts (batched prompts).
Usage: python3 bench/lm_eval_throughput.py http://127.0.0.1:8080 MODEL_DIR"""
import os
import sys
import time

from lm_eval import simple_evaluate
from lm_eval.tasks import TaskManager

url, model_dir = sys.argv[1], sys.argv[2]
tasks_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "eval")
os.chdir(tasks_dir)
manager = TaskManager(include_path=tasks_dir)
for concurrent, batch in ((1, 1), (8, 1), (1, 8)):
    start = time.time()
    results = simple_evaluate(
        model="local-completions",
        model_args="model=m,base_url=%s/v1/completions,tokenizer_backend=huggingface,"
        "tokenizer=%s,num_concurrent=%d" % (url, model_dir, concurrent),
        tasks=["tinystories_mc"], task_manager=manager, batch_size=batch)
    seconds = time.time() - start
    items = results["n-samples"]["tinystories_mc"]["effective"]
    acc = results["results"]["tinystories_mc"]["acc,none"]
    print("num_concurrent=%d batch_size=%d: %d items, %.1f s, %.1f items/s, acc %.2f" %
          (concurrent, batch, items, seconds, items / seconds, acc))
