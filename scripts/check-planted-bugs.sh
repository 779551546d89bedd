#!/usr/bin/env bash
# Shows that the CUDA simulator bites (CI runs this): plants known kernel bugs, one at a time,
# in a copy of the sources, rebuilds the simulator plugin and runs the GPU tests that cover the
# kernel. Each planted bug must make those tests fail, with the simulator's own diagnosis where
# it has one; the unmodified copy must pass them first. Exits non-zero if any bug goes unseen.
#
#   scripts/check-planted-bugs.sh [work-dir]      (default build/planted-bugs)
#
# The bugs are the classic ones a GPU would punish silently or intermittently:
#   missing-barrier   rmsnorm's block sum reads the warps' partial sums without __syncthreads
#   off-by-one-tail   mul's grid-stride loop runs to i <= count (one element past the end)
#   wrong-shfl-mask   rmsnorm's warp sum shuffles with a mask that leaves out lane 31
#   smem-too-large    gemv asks for 48 KiB more dynamic shared memory than its tile needs
# Each is planted by replacing an exact piece of the kernel's source; if a kernel changes so
# that the piece is gone, this script fails and says which, so it cannot silently test nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=${1:-build/planted-bugs}
src=$work/src
bld=$work/build
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)

echo "==> planted bugs: copying the sources to $src"
rm -rf "$src"
mkdir -p "$src"
# Tracked and untracked-but-not-ignored files: what a clone plus the work in progress holds.
git -C "$repo" ls-files -z --cached --others --exclude-standard | (cd "$repo" && xargs -0 cp --parents -t "$src" 2>/dev/null) || true
[ -f "$src/native/src/cuda/rmsnorm.cu" ] || { echo "planted bugs: copying the sources failed" >&2; exit 1; }

echo "==> planted bugs: configure and build the simulator plugin and its tests"
cmake -S "$src" -B "$bld" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DCAPRESE_CUDA=OFF -DCAPRESE_CUDA_SIM=ON >"$work/configure.log"
cmake --build "$bld" -j "$(nproc)" --target caprese caprese_cudasim caprese_gpu_tests_sim >"$work/build.log" || {
  tail -n 40 "$work/build.log" >&2; exit 1; }
tests=$bld/bin/caprese_gpu_tests_sim

# plant NAME FILE FILTER EVIDENCE: applies $work/NAME.py to FILE, rebuilds, runs FILTER and
# requires a failure whose output contains EVIDENCE (an extended regex).
failures=0
plant() {
  local name=$1 file=$2 filter=$3 evidence=$4 log=$work/$1.log
  cp "$src/$file" "$work/$name.orig"
  if ! python3 - "$src/$file" "$name" <"$work/$name.py"; then
    echo "planted bugs: $name: the piece to replace is no longer in $file; update this script" >&2
    failures=$((failures + 1)); return
  fi
  if ! cmake --build "$bld" -j "$(nproc)" --target caprese_cudasim >"$work/$name.build.log" 2>&1; then
    echo "planted bugs: $name: the planted copy does not build" >&2; tail -n 20 "$work/$name.build.log" >&2
    failures=$((failures + 1)); cp "$work/$name.orig" "$src/$file"; return
  fi
  local rc=0
  timeout 300 "$tests" --gtest_filter="$filter" >"$log" 2>&1 || rc=$?
  cp "$work/$name.orig" "$src/$file"
  if [ "$rc" -eq 0 ]; then
    echo "planted bugs: $name: NOT caught: $filter passed with the bug planted" >&2
    failures=$((failures + 1))
  elif ! grep -Eq "$evidence" "$log"; then
    echo "planted bugs: $name: the tests failed (rc $rc) but without the expected diagnosis /$evidence/:" >&2
    tail -n 15 "$log" >&2
    failures=$((failures + 1))
  else
    echo "planted bugs: $name: caught (rc $rc): $(grep -Em1 "$evidence" "$log" | cut -c1-220)"
  fi
}

# Replacement programs: argv[1] the file; the piece must occur exactly once.
write_patch() {  # NAME OLD NEW (python string literals)
  cat >"$work/$1.py" <<EOF
import sys
path = sys.argv[1]
text = open(path).read()
old, new = $2, $3
if text.count(old) != 1:
    sys.exit(1)
open(path, "w").write(text.replace(old, new))
EOF
}

# A copy of the block sum inside rmsnorm.cu, with the barrier between the warps' writes and
# the reads removed (or the shuffle mask wrong), called instead of the shared one.
write_patch missing-barrier \
  '"const float inv = rsqrtf(BlockSum(ss, scratch)"' \
  '"const float inv = rsqrtf(PlantedBlockSum(ss, scratch)"'
cat >>"$work/missing-barrier.py" <<'EOF'
text = open(path).read()
helper = """
__device__ float PlantedBlockSum(float v, float* scratch) {
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  const int warps = (blockDim.x + kWarpSize - 1) / kWarpSize;
  v = WarpSum(v);
  if (lane == 0) scratch[warp] = v;
  float r = lane < warps ? scratch[lane] : 0.0f;  // planted: no __syncthreads() before this read
  r = WarpSum(r);
  __syncthreads();
  return r;
}
"""
open(path, "w").write(text.replace("constexpr int kThreads = 256;\n", "constexpr int kThreads = 256;\n" + helper, 1))
EOF
write_patch wrong-shfl-mask \
  '"const float inv = rsqrtf(BlockSum(ss, scratch)"' \
  '"const float inv = rsqrtf(PlantedBlockSum(ss, scratch)"'
cat >>"$work/wrong-shfl-mask.py" <<'EOF'
text = open(path).read()
helper = """
__device__ float PlantedWarpSum(float v) {
  for (int o = kWarpSize / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0x7fffffffu, v, o);  // planted: lane 31 left out
  return v;
}
__device__ float PlantedBlockSum(float v, float* scratch) {
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  const int warps = (blockDim.x + kWarpSize - 1) / kWarpSize;
  v = PlantedWarpSum(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float r = lane < warps ? scratch[lane] : 0.0f;
  r = PlantedWarpSum(r);
  __syncthreads();
  return r;
}
"""
open(path, "w").write(text.replace("constexpr int kThreads = 256;\n", "constexpr int kThreads = 256;\n" + helper, 1))
EOF
write_patch off-by-one-tail '"i < count; i += stride)"' '"i <= count; i += stride)"'
write_patch smem-too-large \
  '"const size_t smem = static_cast<size_t>(m) * ks * sizeof(float);"' \
  '"const size_t smem = static_cast<size_t>(m) * ks * sizeof(float) + 48 * 1024;"'

echo "==> planted bugs: the unmodified copy passes the tests used below"
baseline='CudaTest.RmsNorm:CudaTest.TransposeAxpbyMulMatchCpu:OddShapes/MatmulTest.MatchesCpu/N37_K100_*'
if ! timeout 300 "$tests" --gtest_filter="$baseline" >"$work/baseline.log" 2>&1; then
  echo "planted bugs: the unmodified copy fails $baseline:" >&2; tail -n 30 "$work/baseline.log" >&2; exit 1
fi

echo "==> planted bugs: planting"
plant missing-barrier native/src/cuda/rmsnorm.cu CudaTest.RmsNorm 'Failure'
plant wrong-shfl-mask native/src/cuda/rmsnorm.cu CudaTest.RmsNorm 'not in the mask|does not include the calling lane'
plant off-by-one-tail native/src/cuda/mul.cu CudaTest.TransposeAxpbyMulMatchCpu \
  'past the end|canary|guard page|illegal memory access'
plant smem-too-large native/src/cuda/gemv.cu 'OddShapes/MatmulTest.MatchesCpu/N37_K100_*' \
  'bytes of dynamic shared memory requested'

if [ "$failures" -ne 0 ]; then
  echo "planted bugs: $failures of 4 planted bugs not caught as expected" >&2
  exit 1
fi
echo "planted bugs: all 4 planted bugs caught by the simulator-backed tests"
