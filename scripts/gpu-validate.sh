#!/usr/bin/env bash
# Builds Caprese with the CUDA backend on a GPU machine, runs the GPU tests (plain, under
# compute-sanitizer memcheck and racecheck) and the kernel harness, and summarises all of
# it in OUTDIR/gpu-validation.json. Every step is logged to OUTDIR/logs/; a failing step is
# recorded and the script goes on, exiting non-zero at the end if anything failed.
#
#   scripts/gpu-validate.sh OUTDIR
#
# Environment (all optional):
#   CAPRESE_COMMIT             commit to report (default: git rev-parse HEAD, else "unknown")
#   CAPRESE_CUDA_ARCHS         CMAKE_CUDA_ARCHITECTURES (default 90: H100/H200)
#   CAPRESE_BUILD_DIR          build folder (default OUTDIR/build)
#   CAPRESE_SANITIZER_FILTER   gtest filter for the sanitizer runs (default below)
#   CAPRESE_STEP_TIMEOUT       seconds per step (default 1800)
#   CAPRESE_CLI                a self-contained `caprese` (scripts/publish-gpu-bundle.sh; the GPU
#                              machine has no .NET): when set, also times whole-model decoding of
#                              a Llama-3.1-8B-shaped f16 model against the memory roofline, and
#                              adapter-training throughput (`caprese bench-training`) on one such layer
#   CAPRESE_GPU_PEERS          a self-contained `caprese-gpu-peers` (bench/Caprese.GpuPeers;
#                              `scripts/publish-gpu-bundle.sh peers`, a bundle of its own: with the CLI's
#                              it exceeds the carry limit): when set, also checks and times Caprese's
#                              sparse-FFN kernel against the same op written with ILGPU at Llama-3.1-8B's
#                              FFN shape, into OUTDIR/ilgpu-peer.json
set -u

if [ $# -ne 1 ]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
OUT=$(mkdir -p "$1" && cd "$1" && pwd)
REPO=$(cd "$(dirname "$0")/.." && pwd)
LOGS="$OUT/logs"
mkdir -p "$LOGS"
BUILD=${CAPRESE_BUILD_DIR:-$OUT/build}
ARCHS=${CAPRESE_CUDA_ARCHS:-90}
STEP_TIMEOUT=${CAPRESE_STEP_TIMEOUT:-1800}
# The sanitizers slow kernels 10-100x and the Llama-8B matmul cases move ~1 GB each, so the
# sanitizer runs use every test except those; the odd-shape matmuls exercise the same code
# paths (vector and element loads, gemv and cuBLAS, every M bucket) on small matrices.
SAN_FILTER=${CAPRESE_SANITIZER_FILTER:-"*:-Llama8B/*"}
JOBS=$(nproc 2>/dev/null || echo 4)
FAILED=0
STEPS_FILE="$OUT/steps.tsv"
: > "$STEPS_FILE"

log() { echo "[gpu-validate $(date -u +%H:%M:%S)] $*" | tee -a "$LOGS/main.log"; }

# run_step NAME CMD...: runs CMD with a timeout, output to logs/NAME.log, records the verdict.
run_step() {
  local name=$1
  shift
  log "step $name: $*"
  local start=$(date +%s)
  timeout "$STEP_TIMEOUT" "$@" > "$LOGS/$name.log" 2>&1
  local rc=$?
  local secs=$(( $(date +%s) - start ))
  printf '%s\t%s\t%s\n' "$name" "$rc" "$secs" >> "$STEPS_FILE"
  if [ $rc -eq 0 ]; then
    log "step $name: ok (${secs}s)"
  else
    log "step $name: FAILED rc=$rc (${secs}s); last lines of logs/$name.log:"
    tail -n 15 "$LOGS/$name.log" | sed 's/^/    /' | tee -a "$LOGS/main.log"
    FAILED=1
  fi
  return $rc
}

COMMIT=${CAPRESE_COMMIT:-$(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo unknown)}
log "repo $REPO, commit $COMMIT, output $OUT, build $BUILD, archs $ARCHS"

if command -v nvidia-smi > /dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2> /dev/null | head -n 1 > "$OUT/gpu.txt"
else
  : > "$OUT/gpu.txt"
  log "nvidia-smi not found: GPU name and driver come from the kernel harness if it runs"
fi
nvcc --version > "$OUT/nvcc.txt" 2>&1 || true
cmake --version > "$OUT/cmake.txt" 2>&1 || true

run_step configure cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCAPRESE_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES="$ARCHS" -DCAPRESE_BUILD_TESTS=ON -DCAPRESE_BUILD_BENCH=ON
CONFIGURED=$?
BUILT=1
if [ $CONFIGURED -eq 0 ]; then
  run_step build cmake --build "$BUILD" -j "$JOBS"
  BUILT=$?
fi

TESTS="$BUILD/bin/caprese_gpu_tests"
BENCH="$BUILD/bin/caprese_kernel_bench"
if [ $BUILT -eq 0 ]; then
  # The gtest run gives per-test verdicts (JSON) and the per-op error records; ctest is the
  # project's official entry point and is run as well.
  rm -f "$OUT/gpu-op-errors.json"
  CAPRESE_GPU_REPORT="$OUT/gpu-op-errors.json" run_step gtest "$TESTS" --gtest_output="json:$OUT/gtest.json"
  run_step ctest ctest --test-dir "$BUILD" -L gpu --output-on-failure --output-junit "$OUT/ctest-junit.xml"
  if command -v compute-sanitizer > /dev/null; then
    run_step memcheck compute-sanitizer --tool memcheck --leak-check full --error-exitcode 97 \
      "$TESTS" --gtest_filter="$SAN_FILTER"
    run_step racecheck compute-sanitizer --tool racecheck --racecheck-report hazard --error-exitcode 97 \
      "$TESTS" --gtest_filter="$SAN_FILTER"
  else
    log "compute-sanitizer not found: sanitizer steps not run"
    printf 'memcheck\tmissing\t0\nracecheck\tmissing\t0\n' >> "$STEPS_FILE"
    FAILED=1
  fi
  run_step bench "$BENCH" --reps 50 --json "$OUT/kernel-bench.json"
  if python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
    run_step torch-peers python3 "$REPO/bench/gpu/torch_ffn_peers.py" "$OUT/torch-ffn-peers.json" --reps 50
  else
    log "PyTorch with CUDA not found: the PyTorch FFN peers were not run"
  fi
  if [ -n "${CAPRESE_CLI:-}" ]; then
    # The published CLI loads the libcaprese just built here (its plugin sits beside it).
    CAPRESE_NATIVE_LIBRARY="$BUILD/lib/libcaprese.so" run_step model-bench "$CAPRESE_CLI" bench \
      --preset llama-3.1-8b --backend cuda --weights f16 --prompt-tokens 128 --decode-tokens 64 \
      --json "$OUT/model-bench-llama-3.1-8b.json"
    # Adapter-training throughput (stage 1 rows/s, stage 2 tokens/s) on one Llama-3.1-8B-shaped layer.
    CAPRESE_NATIVE_LIBRARY="$BUILD/lib/libcaprese.so" run_step training-bench "$CAPRESE_CLI" bench-training \
      --preset llama-3.1-8b --layers 1 --weights f16 --backend cuda \
      --json "$OUT/training-bench-llama-3.1-8b.json"
  fi
  if [ -n "${CAPRESE_GPU_PEERS:-}" ]; then
    # Our sparse-FFN kernel against the ILGPU peer on the same weights (outputs compared, then timed).
    CAPRESE_NATIVE_LIBRARY="$BUILD/lib/libcaprese.so" run_step ilgpu-peer "$CAPRESE_GPU_PEERS" "$OUT/ilgpu-peer.json"
  fi
else
  log "build failed: tests, sanitizers and harness not run"
fi

log "writing $OUT/gpu-validation.json"
python3 - "$OUT" "$COMMIT" "$SAN_FILTER" "$ARCHS" <<'PY' || FAILED=1
import json, os, re, sys, datetime
out, commit, san_filter, archs = sys.argv[1:5]

def read(name):
    try:
        with open(os.path.join(out, name)) as f:
            return f.read().strip()
    except OSError:
        return ""

steps = {}
for line in read("steps.tsv").splitlines():
    name, rc, secs = line.split("\t")
    steps[name] = {"exit_code": rc, "seconds": int(secs), "ok": rc == "0"}

tests = {"passed": 0, "failed": 0, "skipped": 0, "failed_names": [], "skipped_names": []}
try:
    g = json.load(open(os.path.join(out, "gtest.json")))
    for suite in g.get("testsuites", []):
        for t in suite.get("testsuite", []):
            name = suite["name"] + "." + t["name"]
            if t.get("failures"):
                tests["failed"] += 1
                tests["failed_names"].append(name)
            elif t.get("result") == "SKIPPED" or t.get("status") == "NOTRUN":
                tests["skipped"] += 1
                tests["skipped_names"].append(name)
            else:
                tests["passed"] += 1
except (OSError, ValueError) as e:
    tests["error"] = "no gtest JSON: %s" % e

ctest_summary = ""
m = re.search(r"\d+% tests passed.*", read("logs/ctest.log"))
if m:
    ctest_summary = m.group(0)

def sanitizer(name):
    log = read("logs/%s.log" % name)
    st = steps.get(name)
    if st is None:
        return {"verdict": "not run"}
    m = re.search(r"ERROR SUMMARY: (\d+) error", log)
    errors = int(m.group(1)) if m else None
    if st["ok"] and errors in (None, 0):
        verdict = "clean"
    elif errors:
        verdict = "errors"
    else:  # no ERROR SUMMARY: the tool itself failed, or a test failed under it
        verdict = "did not complete cleanly (see log)"
    if st["exit_code"] == "missing":
        verdict = "compute-sanitizer missing"
    return {"verdict": verdict, "errors": errors, "exit_code": st["exit_code"],
            "gtest_filter": san_filter,
            "note": "Llama-8B matmul shapes excluded under the sanitizer for time; odd shapes cover the same paths",
            "log": "logs/%s.log" % name}

try:
    records = json.load(open(os.path.join(out, "gpu-op-errors.json")))
except (OSError, ValueError):
    records = []

gpu = read("gpu.txt").split(",")
bench = {}
try:
    bench = json.load(open(os.path.join(out, "kernel-bench.json")))
except (OSError, ValueError):
    pass
if not gpu or not gpu[0].strip():
    gpu = [bench.get("gpu", "unknown"), str(bench.get("driver_version", "unknown"))]
nvcc = re.search(r"release [0-9.]+, V[0-9.]+", read("nvcc.txt"))
report = {
    "commit": commit,
    "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "gpu": gpu[0].strip() if gpu and gpu[0] else "unknown",
    "driver_version": gpu[1].strip() if len(gpu) > 1 else "unknown",
    "gpu_memory": gpu[2].strip() if len(gpu) > 2 else "unknown",
    "nvcc_version": nvcc.group(0) if nvcc else "unknown",
    "cmake_version": (read("cmake.txt").splitlines() or ["unknown"])[0],
    "cuda_architectures": archs,
    "steps": steps,
    "tests": tests,
    "ctest_summary": ctest_summary,
    "sanitizers": {"memcheck": sanitizer("memcheck"), "racecheck": sanitizer("racecheck")},
    "op_error_records": records,
    "op_records_failed": sum(1 for r in records if not r.get("pass")),
    "kernel_bench_json": "kernel-bench.json" if os.path.exists(os.path.join(out, "kernel-bench.json")) else None,
    "ok": all(s["ok"] for s in steps.values()) and tests["failed"] == 0,
}
tmp = os.path.join(out, "gpu-validation.json.tmp")
with open(tmp, "w") as f:
    json.dump(report, f, indent=2)
os.replace(tmp, os.path.join(out, "gpu-validation.json"))
print("tests: %(passed)d passed, %(failed)d failed, %(skipped)d skipped" % tests)
print("memcheck: %s, racecheck: %s" % (report["sanitizers"]["memcheck"]["verdict"],
                                       report["sanitizers"]["racecheck"]["verdict"]))
sys.exit(0 if report["ok"] else 1)
PY

if [ $FAILED -ne 0 ]; then
  log "FAILED: see $OUT/gpu-validation.json and $LOGS"
  exit 1
fi
log "all steps passed"
exit 0
