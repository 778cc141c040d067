#!/usr/bin/env bash
# Tensor-parallel checks and benchmarks on a multi-GPU machine (nvidia-h200-x2 / -x4). The
# default (STAGES=nccl,greedy) is the one device call that matters, sized for < 8 minutes on
# nvidia-h200-x2; the other stages are separate calls. Results (JSON lines, logs, summary.md)
# go to $OUT.
#
# Needs the one packed bundle, carried as .bundle (scripts/gpu/bundle.sh on a CUDA build: the
# servers, nccl_collectives_check, tg_make_random_model, their libraries and the tokenizer).
# Example:
#   run kind=nvidia-h200-x2 carry=[".bundle"] timeout_s=480 command="scripts/gpu/multi/run.sh"
#
# Stages (STAGES, comma-separated; default nccl,greedy):
#   nccl        per world size in WORLDS: NCCL communicator correctness (all-reduce f32/bf16,
#               vocab gather with padding, both inside a CUDA graph), init time, cost of one
#               decode step's all-reduces (70B: 160 x [batch, 8192]; 8B: 64 x [batch, 4096]);
#               then the watchdog: a rank that skips a collective must produce an error, not a
#               hang.
#   greedy      random-weight Llama-3-8B shape (full width, LAYERS8B layers) served through the
#               real path (text-gen-launcher --num-shard 1, then each of WORLDS): greedy tokens
#               of 16 prompts x 64 steps must equal TP=1's on most prompts, chosen-token logprob
#               relative error < 2e-2 where the prefixes agree; batch-1 ms/token of each.
#   throughput  the same model, TP=1/2/4, 512 random prompts (512 in / 128 out) at 256
#               concurrent: output tokens/s and scaling.
#   70b         a Llama-3-70B-shaped random model (LAYERS70 layers, default 20 of 80, full width)
#               served with --num-shard 4: batch-1 decode TPOT against the per-GPU HBM roofline
#               (weights / 4 per token / bandwidth), scaled to 80 layers.
# Env: WORLDS ("2 4", capped by the GPUs present), LAYERS8B (16), LAYERS70 (20), PORT (8300),
#      BUDGET_S (450: served steps that would start later are skipped and reported as failed),
#      MODEL_ROOT (/tmp/tg-tp-models), TOKENIZER (the bundle's Qwen3 tokenizer.json),
#      HBM_GBS (4800: H200 spec, used for the roofline when torch cannot measure it).
set -uo pipefail
cd "$(dirname "$0")/../../.."
OUT=${OUT:-/tmp/tg-tp-out}
mkdir -p "$OUT/logs"
source scripts/gpu/bundle-env.sh || exit 1
BIN=$TG_BIN
TOKENIZER_DEFAULT=$TG_ASSETS/tokenizer/tokenizer.json
STAGES=${STAGES:-nccl,greedy}
BUDGET_S=${BUDGET_S:-450}
STARTED=$(date +%s)
LAYERS8B=${LAYERS8B:-16}
PORT=${PORT:-8300}
MODEL_ROOT=${MODEL_ROOT:-/tmp/tg-tp-models}
TOKENIZER=${TOKENIZER:-$TOKENIZER_DEFAULT}
HERE=scripts/gpu/multi
GPUS=$(nvidia-smi -L 2>/dev/null | wc -l)
WORLDS_WANTED=${WORLDS:-"2 4"}
WORLDS=""
for w in $WORLDS_WANTED; do ((w <= GPUS)) && WORLDS="$WORLDS $w"; done
FAILED=()
seconds_left() { echo $((BUDGET_S - ($(date +%s) - STARTED))); }

log() { echo "[tp $(date +%H:%M:%S)] $*" | tee -a "$OUT/logs/run.txt" >&2; }
need() { [[ -x "$BIN/$1" ]] || { log "missing $BIN/$1 (scripts/gpu/bundle.sh on a CUDA build)"; return 1; }; }
nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader >"$OUT/devices.txt" 2>&1
nvidia-smi topo -m >"$OUT/topology.txt" 2>&1 || true
log "GPUs: $GPUS; worlds:$WORLDS; stages: $STAGES"

# ---- nccl ----
# ranks WORLD MODE EXTRA...: one nccl_collectives_check process per GPU, like the launcher does.
ranks() {
  local world=$1 mode=$2
  local port=$((PORT + 50 + world))  # not in the line above: its words expand before assigning
  shift 2
  local pids=() r rc=0
  for ((r = 0; r < world; r++)); do
    RANK=$r WORLD_SIZE=$world MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
      timeout "${NCCL_TIMEOUT_S:-120}" "$BIN/nccl_collectives_check" --mode "$mode" "$@" \
      >"$OUT/logs/nccl-$mode-w$world-r$r.out" 2>"$OUT/logs/nccl-$mode-w$world-r$r.err" &
    pids+=($!)
  done
  for r in "${!pids[@]}"; do
    wait "${pids[$r]}" || { rc=$?; log "nccl $mode w$world rank $r exited $rc"; }
  done
  cat "$OUT"/logs/nccl-"$mode"-w"$world"-r*.out >>"$OUT/nccl-$mode.jsonl"
  return $rc
}

stage_nccl() {
  need nccl_collectives_check || { FAILED+=(nccl); return; }
  for w in $WORLDS; do
    log "nccl check, world $w"
    ranks "$w" check || FAILED+=("nccl-check-w$w")
  done
  log "nccl watchdog (rank 1 skips a collective; 5 s timeout)"
  ranks 2 timeout --collective-timeout-ms 5000
  grep -q '"timeout_detected".*"ok":true' "$OUT/nccl-timeout.jsonl" || FAILED+=(nccl-timeout)
}

# ---- served stages ----
make_model() {  # make_model DIR SHAPE LAYERS
  [[ -f "$1/config.json" ]] && return 0
  need tg_make_random_model || return 1
  [[ -f "$TOKENIZER" ]] || { log "no tokenizer at $TOKENIZER (scripts/gpu/bundle.sh)"; return 1; }
  log "writing random $2 model ($3 layers) to $1"
  local started=$(date +%s) rc=0
  # The vocabulary covers the benchmark tokenizer (Qwen3's 151,669 ids, rounded up to 128).
  "$BIN/tg_make_random_model" --out "$1" --shape "$2" --layers "$3" --vocab-size 151680 \
    --tokenizer "$TOKENIZER" 2>"$OUT/logs/make-model-$2.txt" || rc=$?
  log "model written in $(($(date +%s) - started)) s (exit $rc)"
  return $rc
}

SERVER_PID=""
HTTP_PORT=$PORT
# The router's /health answers 200 once it serves (python: curl may be missing on the machine).
healthy() {
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$HTTP_PORT/health', timeout=2)" \
    2>/dev/null
}
start_server() {  # start_server MODEL SHARDS NAME
  local model=$1 shards=$2 name=$3 deadline started left
  left=$(seconds_left)
  if ((left < 90)); then
    log "skipping $name: only ${left} s of BUDGET_S left"
    return 1
  fi
  # A fresh HTTP and rendezvous port per server: the previous one's may still be in TIME_WAIT.
  HTTP_PORT=$((PORT + 10 * shards))
  log "serving $name with --num-shard $shards on port $HTTP_PORT"
  started=$(date +%s)
  # Unix socket paths are limited to 108 bytes: keep them out of $OUT, whose path may be long.
  local sock_dir=${SOCK_DIR:-/tmp/tg-tp-sock}
  mkdir -p "$sock_dir"
  "$BIN/text-gen-launcher" --model-id "$model" --num-shard "$shards" --device cuda \
    --hostname 127.0.0.1 --port "$HTTP_PORT" --master-port $((HTTP_PORT + 1)) \
    --shard-uds-path "$sock_dir/$name" --max-input-tokens 2048 --max-total-tokens 4096 \
    --max-batch-prefill-tokens 16384 ${LAUNCHER_EXTRA_ARGS:-} >"$OUT/logs/server-$name.log" 2>&1 &
  SERVER_PID=$!
  local start_s=${SERVER_START_S:-420}
  ((start_s > left - 45)) && start_s=$((left - 45))
  deadline=$(($(date +%s) + start_s))
  until healthy; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null || (($(date +%s) > deadline)); then
      log "server $name failed to start; last lines:"
      tail -n 20 "$OUT/logs/server-$name.log" >&2
      stop_server
      return 1
    fi
    sleep 2
  done
  log "server $name ready after $(($(date +%s) - started)) s"
  echo "{\"server\":\"$name\",\"shards\":$shards,\"startup_s\":$(($(date +%s) - started))}" \
    >>"$OUT/startup.jsonl"
  # What each rank reported about its group (plan, NCCL) goes into the summary.
  grep -hE "tensor-parallel group|NCCL communicator ready|tp rank|weights:" \
    "$OUT/logs/server-$name.log" | head -n 16 >"$OUT/logs/server-$name-group.txt" || true
}
stop_server() {
  [[ -n "$SERVER_PID" ]] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null
  wait "$SERVER_PID" 2>/dev/null
  SERVER_PID=""
}
trap stop_server EXIT

MODEL8B=$MODEL_ROOT/llama3-8b-random-${LAYERS8B}l
stage_greedy() {
  make_model "$MODEL8B" llama3-8b "$LAYERS8B" || { FAILED+=(greedy); return; }
  for tp in 1 $WORLDS; do
    start_server "$MODEL8B" "$tp" "8b-tp$tp" || { FAILED+=("greedy-tp$tp"); continue; }
    python3 "$HERE/tp_compare.py" generate --port "$HTTP_PORT" --steps 64 \
      --out "$OUT/greedy-tp$tp.json" | tee -a "$OUT/greedy-speed.jsonl" ||
      FAILED+=("greedy-generate-tp$tp")
    stop_server
  done
  for tp in $WORLDS; do
    [[ -f "$OUT/greedy-tp1.json" && -f "$OUT/greedy-tp$tp.json" ]] || continue
    python3 "$HERE/tp_compare.py" compare --reference "$OUT/greedy-tp1.json" \
      --candidate "$OUT/greedy-tp$tp.json" --min-equal-fraction 0.75 --max-rel-err 2e-2 \
      | tee -a "$OUT/greedy-summary.jsonl" || FAILED+=("greedy-compare-tp$tp")
  done
}

stage_throughput() {
  need text-gen-bench || { FAILED+=(throughput); return; }
  make_model "$MODEL8B" llama3-8b "$LAYERS8B" || { FAILED+=(throughput); return; }
  for tp in 1 $WORLDS; do
    start_server "$MODEL8B" "$tp" "8b-tp$tp" || { FAILED+=("throughput-tp$tp"); continue; }
    "$BIN/text-gen-bench" --base-url "http://127.0.0.1:$HTTP_PORT" --tokenizer "$TOKENIZER" \
      --label "8b-tp$tp" --seed 0 --workload random --num-prompts 512 --input-len 512 \
      --output-len 128 --request-rate inf --max-concurrency 256 --check \
      --result-json "$OUT/throughput-tp$tp.json" >"$OUT/logs/bench-8b-tp$tp.txt" 2>&1 ||
      FAILED+=("throughput-bench-tp$tp")
    stop_server
  done
  python3 "$HERE/tp_compare.py" scaling "$OUT"/throughput-tp*.json | tee "$OUT/throughput-summary.json"
}

stage_70b() {
  need text-gen-bench || { FAILED+=(70b); return; }
  local layers=${LAYERS70:-20} model=$MODEL_ROOT/llama3-70b-random-${LAYERS70:-20}l
  ((GPUS >= 4)) || { log "70b needs 4 GPUs"; FAILED+=(70b); return; }
  make_model "$model" llama3-70b "$layers" || { FAILED+=(70b); return; }
  start_server "$model" 4 "70b-tp4" || { FAILED+=(70b-serve); return; }
  "$BIN/text-gen-bench" --base-url "http://127.0.0.1:$HTTP_PORT" --tokenizer "$TOKENIZER" \
    --label 70b-tp4-b1 --seed 0 --workload random --num-prompts 8 --input-len 128 \
    --output-len 256 --request-rate inf --max-concurrency 1 --check \
    --result-json "$OUT/70b-tp4-batch1.json" >"$OUT/logs/bench-70b.txt" 2>&1 || FAILED+=(70b-bench)
  stop_server
  python3 "$HERE/tp_compare.py" roofline --config "$model/config.json" --tp 4 --full-layers 80 \
    --hbm-gbs "${HBM_GBS:-4800}" --bench "$OUT/70b-tp4-batch1.json" | tee "$OUT/70b-roofline.json"
}

IFS=, read -ra stage_list <<<"$STAGES"
for stage in "${stage_list[@]}"; do
  case $stage in
    nccl) stage_nccl ;;
    greedy) stage_greedy ;;
    throughput) stage_throughput ;;
    70b) stage_70b ;;
    *) log "unknown stage $stage"; FAILED+=("$stage") ;;
  esac
done

{
  echo "# Tensor-parallel run ($(date -u +%FT%TZ), commit $TG_COMMIT)"
  echo; echo '```'; cat "$OUT/devices.txt"; echo '```'
  for f in "$OUT"/nccl-check.jsonl "$OUT"/nccl-timeout.jsonl "$OUT"/startup.jsonl \
    "$OUT"/greedy-speed.jsonl "$OUT"/greedy-summary.jsonl "$OUT"/logs/server-8b-tp*-group.txt \
    "$OUT"/throughput-summary.json "$OUT"/70b-roofline.json; do
    [[ -f $f ]] && { echo; echo "## $(basename "$f")"; echo '```'; cat "$f"; echo '```'; }
  done
  echo; echo "failed: ${FAILED[*]:-none}"
} >"$OUT/summary.md"
cat "$OUT/summary.md"
((${#FAILED[@]} == 0))
