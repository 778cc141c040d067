#!/usr/bin/env bash
# Runs ON the GPU machine, from the repository root, over a bundle made by scripts/gpu/bundle.sh:
#   1. smoke: text-gen-shard starts on the GPU with stories260K, logs its CUDA device and NCCL
#      version and "ready", and its unix socket answers Health (python grpcio when available);
#   2. the GPU test executables (kernel/backend ops against the CPU backend, sampling, models);
#   3. the HF transformers comparison (scripts/gpu/hf_compare.py) when present;
#   4. the benchmarks (cuda_bench).
# Writes $OUT/gpu-tests.log and $OUT/results.json (one entry per step, gtest results merged in).
# One device call:  scripts/gpu/bundle.sh && (device run, carry [".bundle"]):
#   bash scripts/gpu/run-gpu-tests.sh
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
work=$(mktemp -d)
log=$OUT/gpu-tests.log
exec > >(tee -a "$log") 2>&1

export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export LD_LIBRARY_PATH=$root/.bundle/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
export PYTHONUNBUFFERED=1
bin=$root/.bundle/bin
assets=$root/.bundle/assets
budget=${TG_GPU_TEST_SECONDS:-420}  # stop starting steps past this many seconds
started=$SECONDS
steps=()

echo "== $(date -u +%FT%TZ) commit $(cat .bundle/COMMIT 2>/dev/null || echo unknown)"
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

step smoke 90 smoke

for t in kernels_host_test cuda_ops_test cuda_sampling_test cuda_model_test cuda_graph_test; do
  [[ -x $bin/$t ]] || continue
  step "$t" 300 env TG_ASSETS_DIR="$assets" "$bin/$t" --gtest_output="json:$work/$t.json"
done

if [[ -f scripts/gpu/hf_compare.py && -x $bin/cuda_hf_driver ]]; then
  step hf_compare 300 python3 scripts/gpu/hf_compare.py --bin "$bin" --out "$work/hf_compare.json"
fi

if [[ -x $bin/cuda_bench ]]; then
  step cuda_bench 300 "$bin/cuda_bench" "$work/cuda_bench.json"
fi

# results.json: the steps, each gtest report's failures, and the benchmark/comparison numbers.
python3 - "$work" "$OUT/results.json" "$(cat .bundle/COMMIT 2>/dev/null || echo unknown)" \
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
