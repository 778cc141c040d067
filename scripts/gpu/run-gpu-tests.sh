#!/usr/bin/env bash
# Runs ON the GPU machine, from the repository root, over a bundle made by scripts/gpu/bundle.sh:
#   1. smoke: text-gen-shard starts on the GPU with stories260K, logs its CUDA device and NCCL
#      version and "ready", and its unix socket answers Health (python grpcio when available);
#   2. the GPU test executables (kernel/backend ops against the CPU backend, sampling, models);
#   3. the HF transformers comparison (scripts/gpu/hf_compare.py) when present;
#   4. the benchmarks (cuda_bench).
# Writes $OUT/gpu-tests.log and $OUT/results.json (one entry per step, gtest results merged in).
#   5. device_lost: a kernel that faults on purpose (TG_TEST_DEVICE_FAULT_AT_DECODE) must make
#      the shard exit with its device-lost code and the launcher stop the group;
#   6. memcheck: compute-sanitizer over a served load with decode graphs on and a KV pool past
#      2^31 bytes per layer (stories260K, 2^21 + 4096 blocks), then over FlashInfer's decode
#      replayed from a CUDA graph (cuda_ops_test's CudaDecodeAttentionTest).
#   7. token_mask_bench (only when named in TG_GPU_STEPS): cuda_bench --token-masks, what
#      constrained decoding costs per decode step at batch 64 for SmolLM2's vocabulary and
#      Qwen3's (151,936 logits), against the same step without masks (tests/kernels/
#      token_mask_bench.h); the figures land in results.json as "token_mask_bench".
# One device call:  scripts/gpu/bundle.sh && (device run, carry [".bundle"]):
#   bash scripts/gpu/run-gpu-tests.sh       (TG_GPU_STEPS="smoke cuda_graph_test ..." for some)
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
work=$(mktemp -d)
log=$OUT/gpu-tests.log
exec > >(tee -a "$log") 2>&1

source scripts/gpu/bundle-env.sh || exit 1
export PYTHONUNBUFFERED=1
bin=$TG_BIN
assets=$TG_ASSETS
budget=${TG_GPU_TEST_SECONDS:-420}  # stop starting steps past this many seconds
started=$SECONDS
steps=()

echo "== $(date -u +%FT%TZ) commit $TG_COMMIT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
for lib in libcublasLt.so.13 libcudart.so.13 libnccl.so.2; do
  found=$(ldconfig -p | awk -v l="$lib" '$1 == l {print $NF; exit}')
  [[ -z $found && -f /usr/local/cuda/lib64/$lib ]] && found=/usr/local/cuda/lib64/$lib
  echo "lib $lib: ${found:-NOT FOUND}"
done

# step NAME TIMEOUT CMD...: runs one step, records its status and duration.
step() {
  local name=$1 limit=$2
  shift 2
  if (( SECONDS - started > budget )); then
    echo "== $name: skipped (time budget spent)"
    steps+=("{\"name\": \"$name\", \"status\": \"skipped\"}")
    return
  fi
  echo "== $name"
  local t0=$SECONDS rc
  if declare -F "$1" >/dev/null; then
    "$@"  # a shell function (bounded inside)
  else
    timeout "$limit" "$@"
  fi
  rc=$?
  local status=passed
  (( rc == 0 )) || status=failed
  (( rc == 77 )) && status=skipped
  (( rc == 124 )) && status=timeout
  echo "== $name: $status (rc $rc, $((SECONDS - t0)) s)"
  steps+=("{\"name\": \"$name\", \"status\": \"$status\", \"rc\": $rc, \"seconds\": $((SECONDS - t0))}")
}

smoke() {
  [[ -x $bin/text-gen-shard ]] || { echo "no text-gen-shard in the bundle"; return 77; }
  local sock=$work/tg-smoke slog=$work/shard.log
  "$bin/text-gen-shard" --model-id "$assets/models/stories260K" --uds-path "$sock" --device cuda \
    >"$slog" 2>&1 &
  local pid=$! ok=1
  for _ in $(seq 1 120); do
    grep -q ready "$slog" && { ok=0; break; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  cat "$slog"
  if (( ok == 0 )); then
    grep -qiE "cuda|nvidia|h100|h200" "$slog" || { echo "smoke: no CUDA device in the log"; ok=1; }
    grep -qi nccl "$slog" || echo "smoke: warning: no NCCL version in the log"
    [[ -S $sock-0 ]] || { echo "smoke: no socket $sock-0"; ok=1; }
    if (( ok == 0 )) && python3 -c "import grpc" 2>/dev/null; then
      python3 - "$sock-0" <<'PY' || ok=1
import sys, grpc
channel = grpc.insecure_channel("unix:" + sys.argv[1])
grpc.channel_ready_future(channel).result(timeout=20)
# Health takes an empty request; call it without generated stubs.
call = channel.unary_unary("/textgen.v1.TextGenerationService/Health",
                           request_serializer=lambda x: x, response_deserializer=lambda x: x)
call(b"", timeout=20)
print("smoke: Health answered over", sys.argv[1])
PY
    fi
  fi
  kill -TERM "$pid" 2>/dev/null
  wait "$pid"
  local rc=$?
  (( rc == 0 )) || echo "smoke: shard exit status $rc after SIGTERM"
  return $ok
}

# serve_stories ARGS...: the launcher on stories260K on the GPU in the background, run under the
# command in the array serve_prefix (pid in $served_pid, log in $work/serve.log), with ARGS as
# extra launcher flags; waits until ready or the launcher exits.
serve_prefix=()
serve_stories() {
  local port=$((8500 + RANDOM % 500))
  served_url=http://127.0.0.1:$port
  "${serve_prefix[@]}" "$bin/text-gen-launcher" --model-id "$assets/models/stories260K" \
    --device cuda --port "$port" --shard-uds-path "$work/serve-$port" \
    --master-port $((port + 1000)) "$@" >"$work/serve.log" 2>&1 &
  served_pid=$!
  for _ in $(seq 1 600); do
    grep -q "text-gen is ready" "$work/serve.log" && return 0
    kill -0 "$served_pid" 2>/dev/null || return 1
    sleep 0.5
  done
  return 1
}

# load_stories N MAX_NEW: N concurrent /generate requests (prompts of growing length, 1..MAX_NEW
# new tokens); prints each HTTP status (000: no answer). Python, not curl: the bundle's library
# path would hand the machine's curl our libcurl.
load_stories() {
  python3 - "$served_url" "$1" "$2" <<'PY'
import json, sys, threading, urllib.error, urllib.request
url, n, max_new = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
codes = [0] * n
def one(i):
    body = {"inputs": "Once upon a time " * (i % 24 + 1),
            "parameters": {"max_new_tokens": i % max_new + 1}}
    req = urllib.request.Request(url + "/generate", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            codes[i] = r.status
    except urllib.error.HTTPError as e:
        codes[i] = e.code
    except Exception:
        codes[i] = 0
threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
for t in threads: t.start()
for t in threads: t.join()
print("\n".join(f"{c:03d}" for c in codes))
PY
}

device_lost() {
  serve_prefix=(env TG_TEST_DEVICE_FAULT_AT_DECODE=3)
  serve_stories || { cat "$work/serve.log"; return 1; }
  load_stories 4 20 | sort | uniq -c
  local rc=0
  for _ in $(seq 1 60); do kill -0 "$served_pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$served_pid" 2>/dev/null; then
    echo "device_lost: the launcher is still running"; kill -9 -- "$served_pid"; rc=1
  fi
  wait "$served_pid"
  local code=$?
  cat "$work/serve.log"
  ((code != 0)) || { echo "device_lost: launcher exit code 0"; rc=1; }
  grep -q "device lost, exiting with code 3" "$work/serve.log" || { echo "no device-lost line"; rc=1; }
  grep -q "illegal memory access" "$work/serve.log" || { echo "no illegal access named"; rc=1; }
  grep -q "exited with code 3" "$work/serve.log" || { echo "launcher did not see code 3"; rc=1; }
  return $rc
}

memcheck() {
  local sanitizer
  sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null)
  [[ -n $sanitizer ]] || { echo "memcheck: no compute-sanitizer"; return 77; }
  # 2^21 + 4096 blocks: each layer's K and V tensors are 2.15 GB (bf16 KV of stories260K).
  serve_prefix=("$sanitizer" --tool memcheck --target-processes all --print-limit 20
    --error-exitcode 9)
  serve_stories --max-batch-total-tokens $(((2 ** 21 + 4096) * 16)) ||
    { cat "$work/serve.log"; return 1; }
  local codes
  codes=$(load_stories 48 64 | sort | uniq -c)
  echo "$codes"
  # The launcher itself (under the sanitizer), so it stops its children and exits cleanly.
  pkill -TERM -f "^$bin/text-gen-launcher .*$work/serve-" || kill -TERM "$served_pid"
  wait "$served_pid"
  local code=$?
  grep -E "ERROR SUMMARY|Invalid|decode graphs|KV cache" "$work/serve.log" | head -40
  # The sanitizer reports the SIGTERM it forwarded as exit status 15.
  [[ $code == 0 || $code == 15 ]] ||
    { echo "memcheck: launcher exit code $code"; tail -50 "$work/serve.log"; return 1; }
  [[ $(echo "$codes" | grep -cv " 200$") == 0 ]] || { echo "memcheck: failed requests"; return 1; }
  grep -q "ERROR SUMMARY: 0 errors" "$work/serve.log" || return 1
  # stories260K's head size (8) runs our decode kernel; FlashInfer's (head size 128) under the
  # sanitizer: its launches captured in a CUDA graph and replayed with new context lengths.
  [[ -x $bin/cuda_ops_test ]] || return 0
  timeout 240 "$sanitizer" --tool memcheck --print-limit 20 --error-exitcode 9 "$bin/cuda_ops_test" \
    --gtest_filter='CudaDecodeAttentionTest.FlashInferGraphReplaysNewLengths' 2>&1 |
    tee "$work/memcheck-decode.log" | tail -20
  (( PIPESTATUS[0] == 0 )) && grep -q "ERROR SUMMARY: 0 errors" "$work/memcheck-decode.log"
}

want() { [[ -z ${TG_GPU_STEPS:-} || " $TG_GPU_STEPS " == *" $1 "* ]]; }

want smoke && step smoke 90 smoke

for t in kernels_host_test cuda_ops_test cuda_sampling_test cuda_token_mask_test cuda_model_test \
    cuda_graph_test; do
  [[ -x $bin/$t ]] && want "$t" || continue
  step "$t" 300 env TG_ASSETS_DIR="$assets" "$bin/$t" --gtest_output="json:$work/$t.json"
done

want device_lost && step device_lost 120 device_lost
want memcheck && step memcheck 300 memcheck

if [[ -f scripts/gpu/hf_compare.py && -x $bin/cuda_hf_driver ]] && want hf_compare; then
  step hf_compare 300 python3 scripts/gpu/hf_compare.py --bin "$bin" --out "$work/hf_compare.json"
fi

if [[ -x $bin/cuda_bench ]] && want cuda_bench; then
  step cuda_bench 300 "$bin/cuda_bench" "$work/cuda_bench.json"
fi

# Opt-in (it builds two Llama-3-8B-shaped models): TG_GPU_STEPS="token_mask_bench".
token_mask_bench() {
  [[ -x $bin/cuda_bench ]] || { echo "no cuda_bench in the bundle"; return 77; }
  local vocabs=$assets/tokenizer/tokenizer.json
  [[ -f $assets/tokenizer/smollm2-vocab.gguf ]] && vocabs=$assets/tokenizer/smollm2-vocab.gguf,$vocabs
  timeout 300 "$bin/cuda_bench" "$work/token_mask_bench.json" --token-masks "$vocabs"
}
[[ " ${TG_GPU_STEPS:-} " == *" token_mask_bench "* ]] && step token_mask_bench 300 token_mask_bench

# results.json: the steps, each gtest report's failures, and the benchmark/comparison numbers.
python3 - "$work" "$OUT/results.json" "$TG_COMMIT" \
  "$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n1)" \
  "${steps[@]}" <<'PY'
import json, os, sys, datetime
work, out, commit, gpu = sys.argv[1:5]
result = {"date": datetime.datetime.utcnow().isoformat() + "Z", "commit": commit, "gpu": gpu,
          "steps": [json.loads(s) for s in sys.argv[5:]], "gtest": {}}
for name in sorted(os.listdir(work)):
    path = os.path.join(work, name)
    if not name.endswith(".json"):
        continue
    try:
        data = json.load(open(path))
    except Exception as e:  # a crashed test leaves a partial file
        result["gtest"][name] = {"error": str(e)}
        continue
    if "testsuites" in data:
        failures = [f"{s['name']}.{t['name']}" for s in data["testsuites"] for t in s["testsuite"]
                    if t.get("failures")]
        result["gtest"][name[:-5]] = {"tests": data.get("tests"), "failures": data.get("failures"),
                                      "skipped": data.get("skipped", 0), "failed": failures}
    else:
        result[name[:-5]] = data
json.dump(result, open(out, "w"), indent=2)
print(json.dumps(result, indent=2))
PY
