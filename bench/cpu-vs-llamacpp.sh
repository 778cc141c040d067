#!/usr/bin/env bash
# Our CPU server against llama.cpp on the same GGUF, in the same run, on this machine:
#   - one stream, decode tok/s (1000 / mean TPOT) over HTTP streaming, OUTPUT_LEN tokens;
#   - 8 and 32 concurrent streams, aggregate output tok/s (llama-server with as many slots, -np);
#   - prompt processing tok/s of a 128-token prompt: llama-bench pp128 against our in-process
#     text-gen-shard-bench prefill (both without HTTP), plus their in-process decode (tg128).
# Both servers get the same prompts through text-gen-bench's OpenAI protocol (/v1/completions,
# stream, ignore_eos), one server at a time. llama.cpp comes from bench/build-llamacpp.sh
# (pinned llama-cpp-python sdist, built once into .llamacpp/).
# Prints a table, the ratios ours / llama.cpp and JSON lines (cpu_decode_vs_llamacpp,
# cpu_c8_vs_llamacpp, cpu_c32_vs_llamacpp, cpu_pp128_vs_llamacpp); the machine's load (uptime)
# before and after, and llama-server's own decode ms/token from its log (it exposes contention). Everything runs under `nice`: the machine may be shared.
#
# Usage: bench/cpu-vs-llamacpp.sh [OUT_DIR]
#   env: MODEL (default models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf),
#        BUILD_DIR (default build), THREADS (default: all cores), INPUT_LEN (default 64),
#        OUTPUT_LEN (default 128), CONCURRENCY (default "8 32"), PORT (default 3390),
#        LLAMA_BIN (a folder with llama-server and llama-bench; default: bench/build-llamacpp.sh),
#        SKIP_LLAMA_SERVER=1 (only llama-bench from llama.cpp: HTTP rows show ours alone)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/tg-cpu-vs-llamacpp}
MODEL=$(realpath "${MODEL:-models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf}")
BUILD_DIR=$(realpath "${BUILD_DIR:-build}")
THREADS=${THREADS:-$(nproc)}
INPUT_LEN=${INPUT_LEN:-64}
OUTPUT_LEN=${OUTPUT_LEN:-128}
CONCURRENCY=${CONCURRENCY:-"8 32"}
PORT=${PORT:-3390}
mkdir -p "$OUT"
for b in launcher/text-gen-launcher bench/text-gen-bench shard/text-gen-shard-bench; do
  [[ -x $BUILD_DIR/$b ]] || { echo "missing $BUILD_DIR/$b: run scripts/build.sh" >&2; exit 1; }
done
LLAMA_BIN=${LLAMA_BIN:-$(bench/build-llamacpp.sh)}
SKIP_LLAMA_SERVER=${SKIP_LLAMA_SERVER:-0}
LOAD_BEFORE=$(uptime)
echo "load before: $LOAD_BEFORE"

SERVER_PID=""
stop_server() {
  if [[ -n $SERVER_PID ]]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}
trap stop_server EXIT

wait_ready() {  # URL LOG
  for _ in $(seq 300); do
    if curl -sf "$1" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "server exited; log: $2" >&2
      tail -20 "$2" >&2
      exit 1
    fi
    sleep 1
  done
  echo "server not ready after 300 s; log: $2" >&2
  exit 1
}

# load NAME CONCURRENCY PROMPTS: one text-gen-bench run against the server on $PORT. --check for
# ours only: llama-server ends a stream with one more chunk than it has tokens, which the check
# counts as a mismatch (its token counts are still checked: ignore_eos, usage).
load() {
  nice "$BUILD_DIR/bench/text-gen-bench" --base-url "http://127.0.0.1:$PORT" --protocol openai \
    --model bench --tokenizer "$MODEL" --workload random --num-prompts "$3" \
    --input-len "$INPUT_LEN" --output-len "$OUTPUT_LEN" --request-rate inf \
    --max-concurrency "$2" --seed 1 --backend "$1" --label "$1-c$2" $([[ $1 == ours ]] && echo --check) \
    --result-json "$OUT/$1-c$2.json" >"$OUT/$1-c$2.txt"
}

# One wave of requests per level (two one after the other for the single stream).
prompts() { echo $(($1 == 1 ? 2 : $1)); }

levels=(1 $CONCURRENCY)
max_level=${levels[-1]}

# ---- ours: one server for every level (continuous batching has no slot count) ----
nice "$BUILD_DIR/launcher/text-gen-launcher" --model-id "$MODEL" --port "$PORT" \
  --threads "$THREADS" --max-total-tokens 1024 --shard-uds-path "/tmp/tg-vs-llamacpp-$PORT" \
  --master-port $((PORT + 20000)) >"$OUT/ours-server.log" 2>&1 &
SERVER_PID=$!
wait_ready "http://127.0.0.1:$PORT/health" "$OUT/ours-server.log"
for c in "${levels[@]}"; do
  load ours "$c" "$(prompts "$c")"
done
stop_server

# ---- llama.cpp: one server per level, with that many parallel slots ----
for c in "${levels[@]}"; do
  [[ $SKIP_LLAMA_SERVER == 1 ]] && break
  nice "$LLAMA_BIN/llama-server" -m "$MODEL" --port "$PORT" -t "$THREADS" -np "$c" \
    -c $((c * 1024)) --no-webui >"$OUT/llamacpp-server-c$c.log" 2>&1 &
  SERVER_PID=$!
  wait_ready "http://127.0.0.1:$PORT/health" "$OUT/llamacpp-server-c$c.log"
  load llamacpp "$c" "$(prompts "$c")"
  stop_server
done

# ---- prompt processing and in-process decode: llama-bench against text-gen-shard-bench ----
nice "$LLAMA_BIN/llama-bench" -m "$MODEL" -t "$THREADS" -p 128 -n 128 -r 3 -o json \
  >"$OUT/llama-bench.json" 2>"$OUT/llama-bench.log"
PROMPT_IDS=$(python3 -c "print(','.join(str(100 + 7 * i) for i in range(128)))")
nice "$BUILD_DIR/shard/text-gen-shard-bench" --model-id "$MODEL" --threads "$THREADS" \
  --prompt-ids "$PROMPT_IDS" --max-new-tokens 128 >"$OUT/ours-shard-bench.txt"
LOAD_AFTER=$(uptime)
echo "load after: $LOAD_AFTER"

python3 - "$OUT" "$MODEL" "$THREADS" "$INPUT_LEN" "$OUTPUT_LEN" "$LOAD_BEFORE" "$LOAD_AFTER" \
  "${levels[@]}" <<'EOF'
import json, re, sys
out, model, threads, input_len, output_len, load_before, load_after = sys.argv[1:8]
levels = [int(c) for c in sys.argv[8:]]

def run(name, c):
    with open(f"{out}/{name}-c{c}.json") as f:
        return json.load(f)["runs"][0]

import os
rows = []  # (metric, ours, llama.cpp or None)
for c in levels:
    ours = run("ours", c)
    theirs = run("llamacpp", c) if os.path.exists(f"{out}/llamacpp-c{c}.json") else None
    if c == 1:
        rows.append(("decode_c1", 1000 / ours["mean_tpot_ms"],
                     1000 / theirs["mean_tpot_ms"] if theirs else None))
    else:
        rows.append((f"c{c}", ours["output_throughput"],
                     theirs["output_throughput"] if theirs else None))
bench = json.load(open(f"{out}/llama-bench.json"))
pp = next(r["avg_ts"] for r in bench if r["n_prompt"] == 128 and r["n_gen"] == 0)
tg = next(r["avg_ts"] for r in bench if r["n_gen"] == 128 and r["n_prompt"] == 0)
text = open(f"{out}/ours-shard-bench.txt").read()
our_pp = float(re.search(r"prefill [\d.]+ ms \(([\d.]+) tokens/s", text).group(1))
our_tg = float(re.search(r"= ([\d.]+) tokens/s", text).group(1))
rows.append(("pp128", our_pp, pp))
rows.append(("tg128_in_process", our_tg, tg))

names = {"decode_c1": "one stream, decode tok/s (HTTP)",
         "pp128": "prompt processing pp128 tok/s (in process)",
         "tg128_in_process": "decode tg128 tok/s (in process)"}
print(f"\nmodel {model}, {threads} threads, prompts {input_len} tokens, {output_len} generated")
print(f"{'':46} {'ours':>9} {'llama.cpp':>10} {'ratio':>7}")
for metric, ours, theirs in rows:
    label = names.get(metric, f"{metric[1:]} concurrent streams, aggregate tok/s (HTTP)")
    if theirs is None:
        print(f"{label:46} {ours:9.1f} {'-':>10} {'-':>7}")
    else:
        print(f"{label:46} {ours:9.1f} {theirs:10.1f} {ours / theirs:7.2f}")
print(f"load before: {load_before}\nload after:  {load_after}")
# llama-server's own per-token decode time: on a contended machine its OpenMP threads wait at a
# barrier for a descheduled peer, and this shows it (about 10 ms here on a quiet machine).
for c in levels:
    try:
        log = open(f"{out}/llamacpp-server-c{c}.log").read()
    except OSError:
        continue
    evals = [float(m) for m in re.findall(r"\s eval time = .*?\(\s*([\d.]+) ms per token", log)]
    if evals:
        print(f"llama-server -np {c}, its own decode ms/token per request: "
              + ", ".join(f"{e:.1f}" for e in evals))
headline = {"decode_c1": "cpu_decode_vs_llamacpp", "c8": "cpu_c8_vs_llamacpp",
            "c32": "cpu_c32_vs_llamacpp", "pp128": "cpu_pp128_vs_llamacpp",
            "tg128_in_process": "cpu_tg128_vs_llamabench"}
with open(f"{out}/summary.jsonl", "w") as f:
    for metric, ours, theirs in rows:
        if metric not in headline or theirs is None:
            continue
        line = json.dumps({"metric": headline[metric], "value": round(ours / theirs, 3),
                           "ours": round(ours, 2), "llamacpp": round(theirs, 2),
                           "load": load_after.split("load average:")[-1].strip()})
        print(line)
        f.write(line + "\n")
EOF
