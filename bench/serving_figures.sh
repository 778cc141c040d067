# Issue 19's serving figures in one device call (sourced by run-gpu-scenarios.sh after
# scenarios.sh when SCENARIO_SET=serving-figures; uses its start_server/bench/have_time helpers):
#   serving-256            256 requests of 512 in / 128 out, all at once, concurrency 256
#   long-prompt-*-bBUDGET  64 streams (512 in / 256 out) decoding while one 32k-token prompt
#                          arrives 3 s in; on the main server, then one server per other step
#                          budget in LONG_BUDGETS
#   shared-prefix-cache-*  4 prefixes of 1,024 tokens, 128 requests, cache on then off
#   sharegpt-rates         ShareGPT-like lengths at 4, 16, 64 and inf req/s, goodput
#   peers                  HF static generate() and continuous batching on serving-256
# then bench/serving_figures.py writes figures.json and figures.md (ratios within this run).
# The model needs max_position_embeddings >= 33024:
#   scripts/gpu/bundle.sh, then (device run, carry [".bundle"]):
#   SCENARIO_SET=serving-figures MODEL_DIR=/tmp/tg-bench-llama3-8b-40k \
#     MODEL_ARGS="--max-position-embeddings 40960" bench/run-gpu-scenarios.sh
# env: FIG_BUDGET (step token budget of the main server, default 1536: on the H200 at 590c687 it
#      kept ITL p99 at 1.77x TPOT mean for 0.571 of the bound, where 2048 gave 0.581 at 2.21x), LONG_BUDGETS (more budgets for the long prompt, default
#      none), FIG_SERVER_ARGS (more launcher flags for every server); sizes (issue 19's by
#      default, smaller for a plumbing run on the CPU): FIG_N FIG_IN FIG_OUT, LONG_PROMPT
#      STREAM_IN STREAM_OUT, PREFIX_LEN PREFIX_SUFFIX PREFIX_OUT PREFIX_N; FIG_ONLY (space-separated
#      subset of: serving-256 shared-prefix long-prompt sharegpt-rates peers; default all).

FIG_BUDGET=${FIG_BUDGET:-1536}
LONG_BUDGETS=${LONG_BUDGETS:-}
FIG_N=${FIG_N:-256} FIG_IN=${FIG_IN:-512} FIG_OUT=${FIG_OUT:-128}
LONG_PROMPT=${LONG_PROMPT:-32768} STREAM_IN=${STREAM_IN:-512} STREAM_OUT=${STREAM_OUT:-256}
PREFIX_N=${PREFIX_N:-128} PREFIX_LEN=${PREFIX_LEN:-1024} PREFIX_SUFFIX=${PREFIX_SUFFIX:-64}
PREFIX_OUT=${PREFIX_OUT:-64}

# wanted GROUP: whether FIG_ONLY (empty: every group) asks for this group of scenarios.
wanted() { [[ -z "${FIG_ONLY:-}" || " $FIG_ONLY " == *" $1 "* ]]; }

# fig_server NAME BUDGET EXTRA...: (re)starts the server with the figures' limits.
fig_server() {
  local name=$1 budget=$2
  shift 2
  stop_server
  # The tokenizer may add a BOS token to the LONG_PROMPT tokens the bench counts.
  read -r -a SERVER_ARGS <<<"--max-input-tokens $((LONG_PROMPT + 8)) --max-total-tokens $((LONG_PROMPT + 256)) \
--max-batch-prefill-tokens $budget --max-concurrent-requests 1024 ${FIG_SERVER_ARGS:-} $*"
  if ! start_server; then
    SKIPPED+=("$name (server did not start)")
    return 1
  fi
  cp "$OUT/logs/server.log" "$OUT/logs/server-$name.start.log" 2>/dev/null || true
}

# Saves the router's prefix-cache counters as JSON (for the hit rate).
save_cache_metrics() {
  http_get "http://127.0.0.1:$PORT/metrics" | python3 -c 'import json, sys
values = {}
for line in sys.stdin:
    parts = line.split()
    if len(parts) == 2 and parts[0] in ("tgi_prefix_cache_hit_tokens", "tgi_prompt_tokens",
                                        "tgi_request_preempted"):
        values[parts[0]] = float(parts[1])
json.dump(values, open(sys.argv[1], "w"))' "$1" || true
}

# long_prompt_scenario BUDGET [restart]: on the running server unless told to restart.
long_prompt_scenario() {
  local budget=$1
  have_time 90 "long-prompt-b$budget" || return 0
  if [[ "${2:-}" == restart ]]; then fig_server "long-b$budget" "$budget" || return 0; fi
  bench "long-prompt-streams-b$budget" --workload random --num-prompts 64 --input-len "$STREAM_IN" \
    --output-len "$STREAM_OUT" --request-rate inf --max-concurrency 64 &
  local streams=$!
  sleep 3
  bench "long-prompt-32k-b$budget" --workload random --num-prompts 1 --input-len "$LONG_PROMPT" \
    --output-len 16 --request-rate inf --seed 1 || SKIPPED+=("long-prompt-32k-b$budget")
  wait "$streams" || SKIPPED+=("long-prompt-streams-b$budget")
}

run_serving_figures() {
  mkdir -p "$OUT/logs" "$OUT/.sock"
  trap stop_server EXIT
  local positions
  positions=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["max_position_embeddings"])' \
    "$MODEL/config.json")
  if ((positions < LONG_PROMPT + 256)); then
    log "model max_position_embeddings $positions < $((LONG_PROMPT + 256)): see bench/serving_figures.sh"
    return 1
  fi
  cp "$MODEL/config.json" "$OUT/model-config.json"

  if fig_server main "$FIG_BUDGET"; then
    if wanted serving-256 && have_time 40 serving-256; then
      # The shard's forward seconds (tgi_batch_forward_duration) against the run's wall time:
      # how much of the run the GPU computes, and what the router's side of each call costs.
      http_get "http://127.0.0.1:$PORT/metrics" >"$OUT/serving-256.metrics-before.txt" || true
      bench serving-256 --workload random --num-prompts "$FIG_N" --input-len "$FIG_IN" \
        --output-len "$FIG_OUT" --request-rate inf --max-concurrency "$FIG_N" --goodput "$SLO" \
        --check || SKIPPED+=(serving-256)
      http_get "http://127.0.0.1:$PORT/metrics" >"$OUT/serving-256.metrics-after.txt" || true
      # The router's time between shard calls and the call's own overhead (router_overhead.py).
      python3 bench/router_overhead.py --result "$OUT/serving-256.json" \
        --before "$OUT/serving-256.metrics-before.txt" --after "$OUT/serving-256.metrics-after.txt" \
        | tee "$OUT/serving-256.router.md" || true
    fi
    if wanted shared-prefix && have_time 30 shared-prefix-cache-on; then
      bench shared-prefix-cache-on --workload prefix --num-prompts "$PREFIX_N" --prefix-len "$PREFIX_LEN" \
        --num-prefixes 4 --input-len "$PREFIX_SUFFIX" --output-len "$PREFIX_OUT" --request-rate inf --goodput "$SLO" ||
        SKIPPED+=(shared-prefix-cache-on)
      save_cache_metrics "$OUT/prefix-cache-metrics.json"
    fi
    if wanted long-prompt; then long_prompt_scenario "$FIG_BUDGET"; fi
    if wanted sharegpt-rates && have_time 80 sharegpt-rates; then
      bench sharegpt-rates --workload sharegpt --num-prompts "$SHAREGPT_N" \
        --length-scale "$SHAREGPT_SCALE" --request-rate 4,16,64,inf --goodput "$SLO" ||
        SKIPPED+=(sharegpt-rates)
    fi
  fi
  if wanted shared-prefix && have_time 90 shared-prefix-cache-off && fig_server cache-off "$FIG_BUDGET" --prefix-caching false; then
    bench shared-prefix-cache-off --workload prefix --num-prompts "$PREFIX_N" --prefix-len "$PREFIX_LEN" \
      --num-prefixes 4 --input-len "$PREFIX_SUFFIX" --output-len "$PREFIX_OUT" --request-rate inf --goodput "$SLO" ||
      SKIPPED+=(shared-prefix-cache-off)
  fi
  wanted long-prompt || LONG_BUDGETS=""
  for budget in $LONG_BUDGETS; do long_prompt_scenario "$budget" restart; done
  stop_server

  if wanted peers && have_time "${PEER_MIN_S:-60}" peer && python3 -c "import torch, transformers" 2>/dev/null; then
    local command=(python3 bench/hf_peer.py --model "$MODEL_HF" --batch-size "$PEER_BATCH" --mode both
      "${PEER_ARGS[@]}" --workload "$OUT/serving-256.workload.json" --out "$OUT/serving-256.peer.json")
    echo "${command[*]}" >"$OUT/serving-256.peer.cmd"
    timeout "$(remaining)" "${command[@]}" 2>&1 | tee "$OUT/logs/peer.txt" ||
      SKIPPED+=("peer (failed or out of time; see logs/peer.txt)")
  fi

  printf '%s\n' "${SKIPPED[@]}" >"$OUT/skipped.txt"
  python3 bench/serving_figures.py --dir "$OUT" | tee "$OUT/figures.md" || log "figures failed"
  if ((${PACK_OUT:-0})); then
    (cd "$OUT" && tar -czf results.tar.gz --exclude results.tar.gz --exclude .sock -- *.json *.cmd \
      skipped.txt device.txt logs 2>/dev/null || true)
    (cd "$OUT" && find . -maxdepth 1 -name '*.json' ! -name figures.json -delete &&
      rm -rf -- *.cmd skipped.txt device.txt logs .sock)
  fi
  log "serving figures done; results in $OUT (skipped: ${SKIPPED[*]:-none})"
}
