# The standard benchmark scenario set, shared by run-cpu-scenarios.sh and run-gpu-scenarios.sh
# (sourced, not run). The caller sets:
#   OUT BIN MODEL TOKENIZER DEVICE PORT  and the scale knobs below, then calls run_all.
# Every step runs under the overall deadline BUDGET_S (seconds from START): a step that would not
# fit is skipped and recorded as such, so one device call always comes back with what it has.

START=${START:-$(date +%s)}
BUDGET_S=${BUDGET_S:-560}
SKIPPED=()

log() { echo "[scenarios $(($(date +%s) - START))s] $*" >&2; }
remaining() {
  local left=$((BUDGET_S - ($(date +%s) - START)))
  echo $((left > 1 ? left : 1))
}

# have_time SECONDS NAME: true when SECONDS still fit in the budget.
have_time() {
  if (($(remaining) < $1)); then
    log "skipping $2: $(remaining) s left, needs ~$1 s"
    SKIPPED+=("$2")
    return 1
  fi
}

# GET a URL, print the body, fail unless 200 (python: curl is not on every GPU machine).
http_get() {
  python3 -c 'import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=5) as r: sys.stdout.write(r.read().decode())' "$1" 2>/dev/null
}

SERVER_PID=""
start_server() {
  log "starting text-gen-launcher on port $PORT ($DEVICE)"
  "$BIN/text-gen-launcher" --model-id "$MODEL" --device "$DEVICE" --port "$PORT" \
    --hostname 127.0.0.1 --shard-uds-path "$OUT/.sock/server" --master-port $((PORT + 1)) \
    "${SERVER_ARGS[@]}" >"$OUT/logs/server.log" 2>&1 &
  SERVER_PID=$!
  local deadline=$(($(date +%s) + ${SERVER_START_S:-180}))
  until http_get "http://127.0.0.1:$PORT/health" >/dev/null; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null || (($(date +%s) > deadline)); then
      log "server failed to start; last log lines:"
      tail -n 30 "$OUT/logs/server.log" >&2
      stop_server
      return 1
    fi
    sleep 1
  done
  http_get "http://127.0.0.1:$PORT/info" >"$OUT/server-info.json" || true
  log "server ready"
}

stop_server() {
  if [[ -n "$SERVER_PID" ]]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}

# bench NAME ARGS...: one text-gen-bench run against the server, results in $OUT/NAME.json.
bench() {
  local name=$1
  shift
  local command=("$BIN/text-gen-bench" --base-url "http://127.0.0.1:$PORT" --tokenizer "$TOKENIZER"
    --label "$name" --seed 0 --result-json "$OUT/$name.json" --save-workload "$OUT/$name.workload.json"
    "$@")
  echo "${command[*]}" >"$OUT/$name.cmd"
  log "bench $name"
  timeout "$(remaining)" "${command[@]}" | tee "$OUT/logs/$name.txt"
}

# peers NAME...: HF transformers generate() on the workloads of these scenarios, one model load.
peers() {
  if ! python3 -c "import torch, transformers" 2>/dev/null; then
    log "peer skipped: torch/transformers not installed here"
    SKIPPED+=("peer (no torch/transformers)")
    return 0
  fi
  local jobs=()
  for name in "$@"; do
    [[ -f "$OUT/$name.workload.json" ]] &&
      jobs+=(--workload "$OUT/$name.workload.json" --out "$OUT/$name.peer.json")
  done
  ((${#jobs[@]})) || return 0
  local command=(python3 bench/hf_peer.py --model "$MODEL_HF" --batch-size "$PEER_BATCH"
    "${PEER_ARGS[@]}" "${jobs[@]}")
  for name in "$@"; do echo "${command[*]}" >"$OUT/$name.peer.cmd"; done
  log "peer on $* (batch $PEER_BATCH)"
  timeout "$(remaining)" "${command[@]}" 2>&1 | tee "$OUT/logs/peer.txt" ||
    SKIPPED+=("peer (failed or out of time; see logs/peer.txt)")
}

# shard_sweep: a standalone shard (no router) swept over gRPC.
shard_sweep() {
  local sock="$OUT/.sock/sweep"
  log "starting a standalone text-gen-shard for the sweep"
  "$BIN/text-gen-shard" --model-id "$MODEL" --device "$DEVICE" --uds-path "$sock" \
    --master-port $((PORT + 2)) "${SHARD_ARGS[@]}" >"$OUT/logs/shard-sweep-server.log" 2>&1 &
  local pid=$!
  local deadline=$(($(date +%s) + ${SERVER_START_S:-180}))
  until grep -q ready "$OUT/logs/shard-sweep-server.log" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null || (($(date +%s) > deadline)); then
      log "shard failed to start"
      tail -n 30 "$OUT/logs/shard-sweep-server.log" >&2
      kill -TERM "$pid" 2>/dev/null || true
      SKIPPED+=("shard-sweep (shard did not start)")
      return 0
    fi
    sleep 1
  done
  local command=("$BIN/text-gen-bench" shard --uds "unix://$sock-0" --result-json
    "$OUT/shard-sweep.json" "${SWEEP_ARGS[@]}")
  echo "${command[*]}" >"$OUT/shard-sweep.cmd"
  timeout "$(remaining)" "${command[@]}" | tee "$OUT/logs/shard-sweep.txt" ||
    SKIPPED+=("shard-sweep (failed or out of time)")
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

run_all() {
  mkdir -p "$OUT/logs" "$OUT/.sock"
  trap stop_server EXIT
  if have_time 60 shard-sweep; then shard_sweep; fi

  if start_server; then
    if have_time 30 random-throughput; then
      bench random-throughput --workload random --num-prompts "$RANDOM_N" \
        --input-len "$RANDOM_IN" --output-len "$RANDOM_OUT" --request-rate inf \
        --max-concurrency "$RANDOM_CONCURRENCY" --goodput "$SLO" || SKIPPED+=(random-throughput)
    fi
    if have_time 60 sharegpt-rates; then
      bench sharegpt-rates --workload sharegpt --num-prompts "$SHAREGPT_N" \
        --length-scale "$SHAREGPT_SCALE" --request-rate "$SHAREGPT_RATES" --goodput "$SLO" ||
        SKIPPED+=(sharegpt-rates)
    fi
    if have_time 30 sharegpt-bursty; then
      bench sharegpt-bursty --workload sharegpt --num-prompts "$SHAREGPT_N" \
        --length-scale "$SHAREGPT_SCALE" --request-rate "$BURSTY_RATE" --burstiness 0.5 \
        --goodput "$SLO" || SKIPPED+=(sharegpt-bursty)
    fi
    if have_time 30 shared-prefix; then
      bench shared-prefix --workload prefix --num-prompts "$PREFIX_N" --prefix-len "$PREFIX_LEN" \
        --num-prefixes 4 --input-len "$PREFIX_SUFFIX" --output-len "$PREFIX_OUT" \
        --request-rate inf --goodput "$SLO" || SKIPPED+=(shared-prefix)
    fi
    stop_server
  else
    SKIPPED+=("all serving scenarios (server did not start)")
  fi

  # The peer runs after our server is down: both want the whole device.
  # Ordered cheapest first: what the budget cuts is the long-output ShareGPT run.
  if have_time "${PEER_MIN_S:-40}" peer; then peers random-throughput shared-prefix sharegpt-rates; fi

  printf '%s\n' "${SKIPPED[@]}" >"$OUT/skipped.txt"
  local results=()
  for f in "$OUT"/*.json; do
    case "$f" in *.workload.json | *.peer.json | */shard-sweep.json | */roofline.json | */server-info.json) ;;
    *) results+=("$f") ;; esac
  done
  local peers=("$OUT"/*.peer.json)
  local peer_args=()
  for p in "${peers[@]}"; do [[ -f "$p" ]] && peer_args+=(--peer "$p"); done
  if ((${#results[@]})); then
    python3 bench/plot.py --out "$OUT/chart.png" --title "$TITLE" "${results[@]}" "${peer_args[@]}" ||
      log "plot failed"
  fi
  python3 bench/results_table.py --dir "$OUT" --commit "$COMMIT" >"$OUT/results.md" ||
    log "results table failed"
  if ((${PACK_OUT:-0})); then
    # The device tool brings back at most 8 files: keep the table, the chart and one archive.
    (cd "$OUT" && tar -czf results.tar.gz --exclude results.tar.gz --exclude .sock -- *.json *.cmd \
      skipped.txt device.txt logs 2>/dev/null || true)
    (cd "$OUT" && rm -rf -- *.json *.cmd skipped.txt device.txt logs .sock)
  fi
  log "done; results in $OUT (skipped: ${SKIPPED[*]:-none})"
}
