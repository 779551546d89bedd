#!/usr/bin/env bash
# Validates the CUDA backend on a GPU machine in ONE device call of at most ~8 minutes, build
# included: configure (Ninja, toolchain found explicitly), build only what is run, the GPU
# tests once (a skip or zero passes is a failure there), compute-sanitizer memcheck and
# racecheck at small shapes, then the kernel harness (each op checked against the CPU
# backend, then timed). Each step has its own timeout inside an overall deadline, and the
# summary OUT/gpu-validation.json is rewritten after every step and on exit, so a call that is
# killed still returns what ran. scripts/README.md has the exact device call.
#
#   scripts/gpu-validate.sh [--simulator] [--out DIR] [--build-dir DIR] [--deadline SECONDS]
#
#   --simulator   rehearse on a machine without a GPU: the same steps against the CUDA
#                 simulator (CAPRESE_CUDA=OFF, GTest hidden from CMake so the carried sources
#                 are built, a small test filter, the harness's tiny sweep); the sanitizer
#                 steps are recorded as "not-available". Also CAPRESE_VALIDATE_SIM=1.
#   --out DIR     where results go (default: $OUT, the device tool's result folder)
#   --build-dir   default build/gv-validate-gpu (build/gv-validate-sim with --simulator)
#   --deadline    seconds for everything (default 450: inside an 8-minute call)
#
# Needs: cmake, ninja (or make), python3, a C++ compiler; on a GPU also nvcc (PATH,
# /usr/local/cuda/bin or /usr/local/cuda-*/bin) and compute-sanitizer. GoogleTest: an
# installed one, or the sources scripts/prepare-gpu-bundle.sh puts into third_party/.
# The sparse FFN's kernel variants (serial, tree, wide) are timed side by side after the
# harness, by its sparse_variants suite (OUT/sparse-ffn-variants.json, ~1 min on a GPU): the
# harness step leaves it up to 90 s of the deadline, never taking the harness below 60 s.
# CAPRESE_SPARSE_VARIANTS=0 leaves it out.
# Optional extras, run only with time to spare after the required steps:
#   CAPRESE_TORCH_PEERS=1  bench/gpu/torch_ffn_peers.py (PyTorch's dense and sliced FFN)
#   CAPRESE_CLI=path       a self-contained `caprese` (scripts/publish-gpu-bundle.sh):
#                          whole-model decoding and adapter training at Llama-3.1-8B shape
#   CAPRESE_GPU_PEERS=path the ILGPU sparse-FFN peer (scripts/publish-gpu-bundle.sh peers)
# Other environment: CAPRESE_COMMIT (else git, else third_party/COMMIT), CAPRESE_CUDA_ARCHS
# (else the GPU's compute capability from nvidia-smi, else 90), CAPRESE_SANITIZER_FILTER,
# CAPRESE_SIM_FILTER, CAPRESE_CMAKE_ARGS (more configure arguments, split on spaces).
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
T0=$(date +%s%3N)

MODE=gpu
[ "${CAPRESE_VALIDATE_SIM:-0}" = 1 ] && MODE=simulator
OUTDIR=${OUT:-}
BUILD=""
DEADLINE=450
while [ $# -gt 0 ]; do
  case $1 in
    --simulator) MODE=simulator ;;
    --out) OUTDIR=$2; shift ;;
    --build-dir) BUILD=$2; shift ;;
    --deadline) DEADLINE=$2; shift ;;
    *) echo "usage: $0 [--simulator] [--out DIR] [--build-dir DIR] [--deadline SECONDS]" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$OUTDIR" ]; then
  echo "gpu-validate: no output folder: pass --out DIR (the device tool sets \$OUT)" >&2
  exit 2
fi
mkdir -p "$OUTDIR" && OUTDIR=$(cd "$OUTDIR" && pwd)
[ -n "$BUILD" ] || BUILD=$REPO/build/gv-validate-$([ $MODE = gpu ] && echo gpu || echo sim)
mkdir -p "$BUILD" && BUILD=$(cd "$BUILD" && pwd)
# Step logs and raw records live beside the build, not in OUT: at most 8 files come back from
# the device call, so OUT gets the summary, the gtest and harness JSON and one logs archive.
WORK=$BUILD/validate
rm -rf "$WORK" "$OUTDIR/gpu-validation.json" "$OUTDIR/gtest.json" "$OUTDIR/kernel-bench.json" \
  "$OUTDIR/gpu-op-errors.json" "$OUTDIR/logs.tar.gz" "$OUTDIR/sparse-ffn-variants.json"
mkdir -p "$WORK/logs"
: > "$WORK/steps.tsv"
: > "$WORK/env.tsv"
SUMMARY=$OUTDIR/gpu-validation.json

# Small shapes for the sanitizers (they slow kernels 10-100x): every GPU test except the
# Llama-3.1-8B-sized ones (~1 GB moved each; the odd shapes take the same code paths), the
# deliberate out-of-memory test (its failed allocation is the point, not a finding) and the
# timing test (the sanitizer's slowdown is not what it checks).
SAN_FILTER=${CAPRESE_SANITIZER_FILTER:-"*-Llama8B/*:*.HugeAllocationIsOutOfMemory:*.EventsMeasureTime"}
# The simulator runs the full suite in minutes on 2 cores (CI runs it all elsewhere); the
# rehearsal takes a fixed subset of ~40 s that still reaches every kernel family: gemv on both
# load paths and odd addresses, norms, rope, attention decode and chunk, softmax, argmax,
# embedding, sampling, every sparse FFN mode, the training kernels. A fixed list keeps the
# rehearsal's time fixed as tests are added.
SIM_FILTER=${CAPRESE_SIM_FILTER:-"CudaTest.RmsNorm:CudaTest.Rope:CudaTest.GatedActivation:CudaTest.AddAndSoftcap:\
CudaTest.Softmax:CudaTest.SoftmaxSpecialRows:CudaTest.Argmax:CudaTest.Embedding:\
CudaTest.EmbeddingOutOfRangeReportedBySynchronize:CudaTest.MatmulWeightsNotSixteenByteAligned:\
CudaTest.BuffersAreZeroedAndCopiesRoundTrip:CudaTest.CallerOwnedStream:CudaTest.DeviceInfoIsSane:\
CudaTest.RmsNormBackwardMatchesCpu:CudaTest.RopeBackwardMatchesCpu:CudaTest.GatedActivationBackwardMatchesCpu:\
CudaTest.TransposeAxpbyMulMatchCpu:CudaTest.AdamStepMatchesCpu:OddShapes/MatmulTest.MatchesCpu/N37_K100_*:\
OddShapes/MatmulTest.MatchesCpu/N5_K3_*:OddShapes/MatmulTest.MatchesCpu/N300_K4097_*:Decode/AttentionTest.MatchesCpu/M1_Hq4_Hkv1_hd96_S77_*:\
Decode/AttentionTest.MatchesCpu/M1_Hq8_Hkv8_hd64_S333_*:Decode/AttentionTest.MatchesCpu/M1_Hq32_Hkv8_hd128_S4096_*:\
Chunk/AttentionTest.MatchesCpu/M64_Hq8_Hkv2_hd128_S512_*:Chunk/AttentionTest.MatchesCpu/M7_Hq14_Hkv2_hd128_S50_*:\
Chunk/AttentionTest.MatchesCpu/M5_Hq16_Hkv1_hd32_S9_*:SampleGpu.NanAndInfinities:SampleGpu.IdenticalToCpu:\
SparseFfnGpu.EmptySelections:SparseFfnGpu.UnalignedWeights:SparseFfnGpu.AllOnSlicedWeightsEqualsIndices:\
SparseFfnGpu.IndexOutOfRangeReportedBySynchronize:SparseFfnGpu.OddShapesAllRows:SparseFfnGpu.Deterministic"}

log() { echo "[gpu-validate +$(( ($(date +%s%3N) - T0) / 1000 ))s] $*" | tee -a "$WORK/logs/main.log"; }
env_set() { printf '%s\t%s\n' "$1" "$(printf '%s' "$2" | tr '\t\n' '  ')" >> "$WORK/env.tsv"; }
left_s() { echo $(( DEADLINE - ($(date +%s%3N) - T0) / 1000 )); }

summarize() {  # rewrites OUT/gpu-validation.json (atomically) and the logs archive
  tar -czf "$OUTDIR/logs.tar.gz.tmp" -C "$WORK" logs 2> /dev/null && mv "$OUTDIR/logs.tar.gz.tmp" "$OUTDIR/logs.tar.gz"
  python3 "$REPO/scripts/gpu-validation-summary.py" --work "$WORK" --out "$SUMMARY" --mode "$MODE" \
    --deadline "$DEADLINE" --t0-ms "$T0" "$@"
}

# record NAME RAW SECONDS TIMEOUT NOTE: RAW is an exit code, not-run or not-available; the
# summary script turns it into the verdict.
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "${5:-}" >> "$WORK/steps.tsv"; }

CURRENT=""
CURRENT_START=0
CURRENT_TIMEOUT=0
LAST_RC=0
# run_step NAME CAP LATER CMD...: runs CMD under a timeout of at most CAP seconds, leaving
# LATER seconds of the deadline for the steps after it. Output goes to WORK/logs/NAME.log.
run_step() {
  local name=$1 cap=$2 later=$3
  shift 3
  local t
  t=$(( $(left_s) - later ))
  [ "$t" -gt "$cap" ] && t=$cap
  if [ "$t" -lt 10 ]; then
    record "$name" not-run 0 0 "no time left before the deadline"
    log "step $name: not run, no time left"
    summarize
    LAST_RC=1
    return 1
  fi
  log "step $name (timeout ${t}s): $*"
  CURRENT=$name CURRENT_START=$(date +%s%3N) CURRENT_TIMEOUT=$t
  # Marked as running in the summary while it runs: a call killed now still says where.
  summarize --running "$name" --running-timeout "$t"
  timeout --kill-after=10 "$t" "$@" > "$WORK/logs/$name.log" 2>&1
  LAST_RC=$?
  local secs
  secs=$(awk "BEGIN { printf \"%.1f\", ($(date +%s%3N) - $CURRENT_START) / 1000 }")
  CURRENT=""
  record "$name" "$LAST_RC" "$secs" "$t"
  log "step $name: exit $LAST_RC after ${secs}s"
  [ $LAST_RC -ne 0 ] && tail -n 12 "$WORK/logs/$name.log" | sed 's/^/    /' | tee -a "$WORK/logs/main.log"
  summarize
  return $LAST_RC
}
skip_step() { record "$1" "$2" 0 0 "$3"; log "step $1: $2 ($3)"; summarize; }

on_exit() {
  if [ -n "$CURRENT" ]; then
    record "$CURRENT" interrupted "$(awk "BEGIN { printf \"%.1f\", ($(date +%s%3N) - $CURRENT_START) / 1000 }")" \
      "$CURRENT_TIMEOUT" "a signal ended the validation while this step ran"
  fi
  summarize --final
  exit $?
}
trap on_exit EXIT
trap 'exit 143' TERM INT HUP

# ------------------------------------------------------------------ environment
step_start=$(date +%s%3N)
first() { "$@" 2> /dev/null | head -n 1; }
NVCC="" SANITIZER=""
if [ $MODE = gpu ]; then
  # nvcc: PATH, then the usual install folders (the newest /usr/local/cuda-X.Y last).
  for c in "${CUDACXX:-}" "$(command -v nvcc 2> /dev/null)" /usr/local/cuda/bin/nvcc \
    $(printf '%s\n' /usr/local/cuda-*/bin/nvcc | sort -V -r); do
    if [ -n "$c" ] && [ -x "$c" ]; then NVCC=$c; break; fi
  done
  if [ -n "$NVCC" ]; then
    PATH="$(dirname "$NVCC"):$PATH"
  export PATH
    for c in "$(command -v compute-sanitizer 2> /dev/null)" "$(dirname "$NVCC")/compute-sanitizer" \
      "$(dirname "$NVCC")/../compute-sanitizer/compute-sanitizer"; do
      if [ -n "$c" ] && [ -x "$c" ]; then SANITIZER=$c; break; fi
    done
  fi
fi
GENERATOR=Ninja
command -v ninja > /dev/null || { command -v make > /dev/null && GENERATOR="Unix Makefiles"; }
COMMIT=${CAPRESE_COMMIT:-}
if [ -z "$COMMIT" ] && git -C "$REPO" rev-parse HEAD > /dev/null 2>&1; then
  COMMIT=$(git -C "$REPO" rev-parse HEAD)
  git -C "$REPO" diff --quiet HEAD -- 2> /dev/null || COMMIT="$COMMIT-dirty"
fi
[ -z "$COMMIT" ] && [ -f "$REPO/third_party/COMMIT" ] && COMMIT="$(head -n 1 "$REPO/third_party/COMMIT") (from third_party/COMMIT)"
env_set commit "${COMMIT:-unknown}"
env_set version.nvcc "$([ -n "$NVCC" ] && "$NVCC" --version | grep -o 'release .*' || echo none)"
env_set version.nvcc_path "${NVCC:-none}"
if command -v nvidia-smi > /dev/null; then
  env_set version.gpu "$(first nvidia-smi --query-gpu=name,memory.total,compute_cap --format=csv,noheader)"
  env_set version.driver "$(first nvidia-smi --query-gpu=driver_version --format=csv,noheader)"
else
  env_set version.gpu "none (no nvidia-smi)"
fi
env_set version.compute_sanitizer "$([ -n "$SANITIZER" ] && "$SANITIZER" --version | grep -i version | head -n 1 || echo none)"
env_set version.cmake "$(first cmake --version)"
env_set version.generator "$GENERATOR $(first ninja --version)"
env_set version.cxx "$(first c++ --version)"
env_set version.python "$(first python3 --version)"
env_set version.host "$(uname -m), $(nproc) cores"

ARCHS=${CAPRESE_CUDA_ARCHS:-}
if [ $MODE = gpu ] && [ -z "$ARCHS" ]; then
  # The GPU's own compute capability ("9.0" -> 90): one architecture compiles fastest.
  ARCHS=$(first nvidia-smi --query-gpu=compute_cap --format=csv,noheader | tr -d ' .')
  [[ $ARCHS =~ ^[0-9]+$ ]] || ARCHS=90
fi
env_set config.mode "$MODE"
env_set config.cuda_architectures "${ARCHS:-none}"
env_set config.build_dir "$BUILD"
env_set config.gtest_filter "$([ $MODE = gpu ] && echo '*' || echo "$SIM_FILTER")"
env_set config.sanitizer_filter "$SAN_FILTER"
env_set config.commit_source "$([ -n "${CAPRESE_COMMIT:-}" ] && echo env || echo auto)"
ENV_RC=0
note=""
if [ $MODE = gpu ] && [ -z "$NVCC" ]; then ENV_RC=1 note="no nvcc on PATH, in /usr/local/cuda/bin or /usr/local/cuda-*/bin"; fi
command -v cmake > /dev/null || { ENV_RC=1; note="no cmake"; }
command -v ninja > /dev/null || command -v make > /dev/null || { ENV_RC=1; note="neither ninja nor make"; }
log "mode $MODE, commit ${COMMIT:-unknown}, build $BUILD, out $OUTDIR, deadline ${DEADLINE}s, nvcc ${NVCC:-none}"
cat "$WORK/env.tsv" > "$WORK/logs/environment.log"
[ -n "$note" ] && echo "$note" >> "$WORK/logs/environment.log"
record environment "$ENV_RC" "$(awk "BEGIN { printf \"%.1f\", ($(date +%s%3N) - $step_start) / 1000 }")" 0 "$note"
summarize

# ------------------------------------------------------------------ configure, build
if [ $MODE = gpu ]; then
  TESTS=caprese_gpu_tests BENCH=caprese_kernel_bench PLUGIN=caprese_cuda
  CONFIG=(-DCAPRESE_CUDA=ON -DCAPRESE_CUDA_SIM=OFF -DCMAKE_CUDA_COMPILER="$NVCC"
    -DCUDAToolkit_ROOT="$(dirname "$(dirname "$NVCC")")" -DCMAKE_CUDA_ARCHITECTURES="$ARCHS")
else
  TESTS=caprese_gpu_tests_sim BENCH=caprese_kernel_bench_sim PLUGIN=caprese_cudasim
  # As on the GPU machine: no installed GTest visible, so the carried sources are built.
  CONFIG=(-DCAPRESE_CUDA=OFF -DCAPRESE_CUDA_SIM=ON -DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON)
fi
read -r -a EXTRA_CONFIG <<< "${CAPRESE_CMAKE_ARGS:-}"
BUILT=1
if [ $ENV_RC -ne 0 ]; then
  skip_step configure not-run "environment incomplete"
  skip_step build not-run "environment incomplete"
elif run_step configure 120 240 cmake -S "$REPO" -B "$BUILD" -G "$GENERATOR" -DCMAKE_BUILD_TYPE=Release \
  -DCAPRESE_BUILD_TESTS=ON -DCAPRESE_BUILD_BENCH=ON "${CONFIG[@]}" "${EXTRA_CONFIG[@]}"; then
  # Only what runs: libcaprese, the plugin, the GPU tests and the harness (not the CPU tests).
  run_step build 360 150 cmake --build "$BUILD" -j "$(nproc)" --target caprese "$PLUGIN" "$TESTS" "$BENCH" && BUILT=0
else
  skip_step build not-run "configure failed"
fi

# ------------------------------------------------------------------ tests, sanitizers, harness
BIN=$BUILD/bin
export CAPRESE_EXPECT_GPU=1  # a GPU test that would skip fails instead (gpu_test.cpp)
if [ $BUILT -ne 0 ]; then
  for s in gtest memcheck racecheck bench; do skip_step $s not-run "build failed"; done
else
  FILTER='*'
  [ $MODE = simulator ] && FILTER=$SIM_FILTER
  # Run once, directly (ctest would run every test again through discovery).
  CAPRESE_GPU_REPORT="$OUTDIR/gpu-op-errors.json" run_step gtest 180 90 "$BIN/$TESTS" \
    --gtest_filter="$FILTER" --gtest_output="json:$OUTDIR/gtest.json"
  rm -f "$OUTDIR/gpu-op-errors.json.lock"  # the report writer's lock: one file fewer to bring back

  if [ $MODE = simulator ]; then
    skip_step memcheck not-available "compute-sanitizer needs a GPU (the simulator checks its own bounds and races)"
    skip_step racecheck not-available "compute-sanitizer needs a GPU (the simulator checks its own bounds and races)"
  elif [ -z "$SANITIZER" ]; then
    skip_step memcheck not-available "compute-sanitizer not found beside nvcc or on PATH"
    skip_step racecheck not-available "compute-sanitizer not found beside nvcc or on PATH"
  else
    # API errors are not counted: the tests check every runtime result themselves and some
    # provoke errors on purpose; what is wanted here is bad accesses inside kernels.
    run_step memcheck 120 75 "$SANITIZER" --tool memcheck --report-api-errors no --error-exitcode 97 \
      "$BIN/$TESTS" --gtest_filter="$SAN_FILTER" --gtest_output="json:$WORK/memcheck-gtest.json"
    run_step racecheck 120 45 "$SANITIZER" --tool racecheck --racecheck-report analysis --error-exitcode 97 \
      "$BIN/$TESTS" --gtest_filter="$SAN_FILTER" --gtest_output="json:$WORK/racecheck-gtest.json"
  fi

  # The harness stops starting cases 20 s before its timeout, so its JSON is complete.
  # The variants' step (optional) gets up to 90 s, but only what is left beyond 60 s for the
  # harness itself (a required step) and the 5 s margin.
  VARIANTS_S=0
  if [ "${CAPRESE_SPARSE_VARIANTS:-1}" = 1 ]; then
    VARIANTS_S=$(( $(left_s) - 5 - 60 ))
    [ $VARIANTS_S -gt 90 ] && VARIANTS_S=90
    [ $VARIANTS_S -lt 0 ] && VARIANTS_S=0
  fi
  t=$(( $(left_s) - 5 - VARIANTS_S ))
  [ $t -gt 150 ] && t=150
  bench_args=(--json "$OUTDIR/kernel-bench.json" --budget-s $(( t > 30 ? t - 20 : 10 )))
  [ $MODE = gpu ] && bench_args+=(--sweep quick)
  run_step bench 150 $(( 5 + VARIANTS_S )) "$BIN/$BENCH" "${bench_args[@]}"

  # The sparse FFN's kernel variants side by side (sparse_ffn.cu: serial, tree, wide), each
  # case checked against the CPU first: Llama-3.1-8B's FFN, M 1/4/8/16, 50% and 75%.
  if [ "${CAPRESE_SPARSE_VARIANTS:-1}" = 1 ]; then
    t=$(( $(left_s) - 5 ))
    [ $t -gt 90 ] && t=90
    variant_args=(--suite sparse_variants --json "$OUTDIR/sparse-ffn-variants.json" --budget-s $(( t > 30 ? t - 20 : 10 )))
    [ $MODE = gpu ] && variant_args+=(--sweep quick)
    run_step sparse-variants 90 5 "$BIN/$BENCH" "${variant_args[@]}"
  fi

  # Extras: only on a GPU, only when asked, only in the time that is left.
  LIB=$BUILD/lib/libcaprese.so
  if [ $MODE = gpu ] && [ "${CAPRESE_TORCH_PEERS:-0}" = 1 ]; then
    run_step torch-peers 120 0 python3 "$REPO/bench/gpu/torch_ffn_peers.py" "$OUTDIR/torch-ffn-peers.json" --reps 50
  fi
  if [ $MODE = gpu ] && [ -n "${CAPRESE_CLI:-}" ]; then
    # --cuda-graphs: the whole decode step eager against replayed as a CUDA graph (ms and native calls per token,
    # same tokens), two more sessions on the same weights in alternating rounds: ~10 s more than the plain bench.
    CAPRESE_NATIVE_LIBRARY=$LIB run_step model-bench 165 0 "$CAPRESE_CLI" bench --preset llama-3.1-8b \
      --backend cuda --weights f16 --prompt-tokens 128 --decode-tokens 64 --cuda-graphs --json "$OUTDIR/model-bench.json"
    CAPRESE_NATIVE_LIBRARY=$LIB run_step training-bench 120 0 "$CAPRESE_CLI" bench-training \
      --preset llama-3.1-8b --layers 1 --weights f16 --backend cuda --json "$OUTDIR/training-bench.json"
  fi
  # The draft-verify cost curve: the layer's matmuls at M = 1..16 (what a Verify pass over k drafted rows costs).
  if [ $MODE = gpu ] && [ "${CAPRESE_VERIFY_CURVE:-0}" = 1 ]; then
    run_step verify-curve 90 0 "$BIN/$BENCH" --suite verify --json "$OUTDIR/verify-curve.json" --budget-s 70
  fi
  if [ $MODE = gpu ] && [ "${CAPRESE_VERIFY_CURVE:-0}" = 1 ] && [ -n "${CAPRESE_CLI:-}" ]; then
    CAPRESE_NATIVE_LIBRARY=$LIB run_step bench-verify 150 0 "$CAPRESE_CLI" bench-verify --backend cuda --weights f16 \
      --json "$OUTDIR/bench-verify.json" --plot "$OUTDIR/bench-verify.png"
  fi
  if [ $MODE = gpu ] && [ -n "${CAPRESE_GPU_PEERS:-}" ]; then
    CAPRESE_NATIVE_LIBRARY=$LIB run_step ilgpu-peer 120 0 "$CAPRESE_GPU_PEERS" "$OUTDIR/ilgpu-peer.json"
  fi
fi
# on_exit writes the final summary and exits with its verdict.
