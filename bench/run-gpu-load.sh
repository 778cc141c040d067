#!/usr/bin/env bash
# Serving under full load at the launcher's default flags on one GPU (the "never falls over"
# check): a random-weight Llama-3-8B-shaped bf16 model, served with only
# --max-concurrent-requests raised to 1024 (the default 128 answers 429 by design), then
#   default-256  256 concurrent requests of 512 prompt / 128 output tokens (ignore_eos);
#   mixed-1024   1,024 requests at once: 768 ShareGPT-like plus 256 random prompts of
#                LONG_IN (3,500) tokens with 64 output tokens.
# Every request must succeed and the KV blocks in use must return to 0 (/metrics) after each.
# Prints one JSON line per figure (serving_default_flags_failed_requests,
# serving_1024_mixed_failed_requests); results, logs and the server log go to $OUT.
# Needs the bundle (scripts/gpu/bundle.sh, carry .bundle). Env: LAYERS (32), PORT (8080),
# MODEL_DIR (/tmp/tg-bench-llama3-8b-random), LONG_IN (3500), SERVER_BIN (a folder with
# text-gen-launcher/-router/-shard to serve instead of the bundle's: an A/B of two builds).
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu/bundle-env.sh || exit 1
OUT=${OUT:-/tmp/tg-load}
mkdir -p "$OUT/logs"
START=$(date +%s)
BUDGET_S=${BUDGET_S:-560}
BIN=$TG_BIN
SERVER_BIN=${SERVER_BIN:-$BIN}
TOKENIZER=$TG_ASSETS/tokenizer/tokenizer.json
MODEL=${MODEL_DIR:-/tmp/tg-bench-llama3-8b-random}
PORT=${PORT:-8080}
LONG_IN=${LONG_IN:-3500}
log() { echo "[load $(($(date +%s) - START))s] $*" >&2; }

if [[ ! -f $MODEL/config.json ]]; then
  python3 bench/make_random_model.py --out "$MODEL" --tokenizer-dir "$TG_ASSETS/tokenizer" \
    --layers "${LAYERS:-32}" >"$OUT/logs/make-model.txt" 2>&1 || { log "model failed"; exit 1; }
fi

metric() {
  python3 -c 'import sys, urllib.request
body = urllib.request.urlopen(sys.argv[1], timeout=10).read().decode()
print(next((l.split()[-1] for l in body.splitlines() if l.startswith(sys.argv[2] + " ")), "nan"))' \
    "http://127.0.0.1:$PORT/metrics" "$1" 2>/dev/null || echo nan
}

server_pid=""
start_server() {
  "$SERVER_BIN/text-gen-launcher" --model-id "$MODEL" --port "$PORT" --hostname 127.0.0.1 \
    --shard-uds-path /tmp/tg-load-sock --master-port $((PORT + 1)) \
    --max-concurrent-requests 1024 >"$OUT/logs/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 400); do
    grep -q "text-gen is ready" "$OUT/logs/server.log" && { log "server ready"; return 0; }
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.5
  done
  log "server did not start"; tail -30 "$OUT/logs/server.log" >&2
  return 1
}

# run NAME ARGS...: one text-gen-bench run; prints its failed count.
run() {
  local name=$1
  shift
  "$BIN/text-gen-bench" --base-url "http://127.0.0.1:$PORT" --tokenizer "$TOKENIZER" --label "$name" \
    --seed 0 --request-timeout 400 --result-json "$OUT/$name.json" "$@" >"$OUT/logs/$name.txt" 2>&1
  python3 -c 'import json, sys; r = json.load(open(sys.argv[1]))["runs"][0]
print(r["failed"], r["completed"])' "$OUT/$name.json" 2>/dev/null || echo "-1 0"
}

# blocks_back NAME: waits up to 10 s for tgi_kv_blocks_used to drop to 0.
blocks_back() {
  local used=nan
  for _ in $(seq 1 20); do
    used=$(metric tgi_kv_blocks_used)
    [[ $used == 0 || $used == 0.0 ]] && break
    sleep 0.5
  done
  echo "{\"scenario\": \"$1\", \"kv_blocks_used_after\": \"$used\"}" | tee -a "$OUT/figures.jsonl"
  [[ $used == 0 || $used == 0.0 ]] || status=1
}

# The exit status: 1 when a request failed or the KV cache did not drain back to 0.
status=0
start_server || exit 1
grep -E "memory plan|KV cache|decode graphs" "$OUT/logs/server.log" | tee "$OUT/logs/plan.txt"
read -r failed completed < <(run default-256 --workload random --num-prompts 256 --input-len 512 \
  --output-len 128 --request-rate inf --max-concurrency 256)
log "default-256: $completed completed, $failed failed"
((failed == 0)) || status=1
echo "{\"serving_default_flags_failed_requests\": $failed, \"completed\": $completed}" |
  tee -a "$OUT/figures.jsonl"
blocks_back default-256

if kill -0 "$server_pid" 2>/dev/null; then
  run mixed-sharegpt --workload sharegpt --num-prompts 768 --request-rate inf >"$OUT/sharegpt.count" &
  share_pid=$!
  run mixed-long --workload random --num-prompts 256 --input-len "$LONG_IN" --output-len 64 \
    --request-rate inf >"$OUT/long.count"
  wait "$share_pid"
  read -r f1 c1 <"$OUT/sharegpt.count"
  read -r f2 c2 <"$OUT/long.count"
  log "mixed-1024: sharegpt $c1 completed / $f1 failed, long $c2 completed / $f2 failed"
  ((f1 + f2 == 0)) || status=1
  echo "{\"serving_1024_mixed_failed_requests\": $((f1 + f2)), \"completed\": $((c1 + c2))}" |
    tee -a "$OUT/figures.jsonl"
  blocks_back mixed-1024
else
  log "the server died during default-256"
  status=1
fi
kill -TERM "$server_pid" 2>/dev/null
wait "$server_pid"
log "server exit code $?"
grep -iE "error|critical|illegal" "$OUT/logs/server.log" | head -20 || true
exit "$status"
