#!/usr/bin/env bash
# The CUDA kernels on the simulator under a host sanitizer (CI runs both):
#   address  AddressSanitizer: out-of-bounds and use-after-free accesses of device memory
#            (the simulator's allocations are plain heap blocks under ASan), in the kernels
#            and in the backend around them.
#   thread   ThreadSanitizer: with the simulator's fiber and barrier annotations, two CUDA
#            threads touching the same shared (or global) address between the same pair of
#            barriers, at least one writing, is reported as a data race: the spirit of
#            compute-sanitizer's racecheck. A deliberately racy kernel must be reported.
#
#   scripts/sanitize-sim.sh address|thread [build-dir]    (default build/san-<kind>)
#
# ASan runs the simulator GPU suite at its small shapes (the slowest cases left out to fit CI);
# TSan, ~50x slower, one test per kind of kernel.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:?usage: scripts/sanitize-sim.sh address|thread [build-dir]}
case "$kind" in address | thread) ;; *) echo "sanitize-sim: kind must be address or thread" >&2; exit 2 ;; esac
bld=${2:-build/san-$kind}
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)

echo "==> sanitize-sim ($kind): configure and build in $bld"
cmake -S . -B "$bld" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAPRESE_CUDA=OFF -DCAPRESE_CUDA_SIM=ON \
  -DCAPRESE_SANITIZE="$kind" >"$bld.configure.log" 2>&1 || { tail -n 30 "$bld.configure.log" >&2; exit 1; }
cmake --build "$bld" -j "$(nproc)" --target caprese caprese_cudasim caprese_gpu_tests_sim >"$bld.build.log" 2>&1 || {
  tail -n 40 "$bld.build.log" >&2; exit 1; }
tests=$bld/bin/caprese_gpu_tests_sim

# Slow under a sanitizer (each simulated thread's accesses are instrumented): the large
# attention backward, the many-shape sparse FFN sweep and the 2000-draw sampling test; of the
# sparse FFN variants' sweep only "wide" runs (its fused kernel and its reduction are the new
# code: "serial" is the fused kernel of "tree", whose reduction is that of "wide").
# HugeAllocationIsOutOfMemory: ASan's allocator refuses a 1 PiB request by aborting.
# WritePastAnAllocation: under ASan the write is ASan's to report (and it halts), which the
# planted-bug check already shows; the simulator's own canary report is tested without ASan.
filter='*:-*AttentionBackwardMatchesCpu:*OddShapesAllRows:*ManyDrawsSameLogits:*HugeAllocationIsOutOfMemory:'\
'*SparseFfnVariantTest.MatchesCpu/serial:*SparseFfnVariantTest.MatchesCpu/tree'
[ "$kind" = address ] && filter="$filter:SimChecks.WritePastAnAllocationIsAnIllegalAddress"
# TSan costs ~50x more again: one test per kind of kernel (block reductions, warp
# reductions with shared memory, the fused sparse FFN with its partial sums (both reductions:
# SparseFfnVariantPicksItsKernels runs every variant once), flash-decoding
# attention with its combine step, sampling, the GEMV) plus the simulator's checks, except
# those whose kernels fault mid-block (their abandoned threads never reach a point TSan could
# order with the next launch).
[ "$kind" = thread ] && filter='CudaTest.RmsNorm:CudaTest.Argmax:CudaTest.SoftmaxSpecialRows:CudaTest.EmbeddingOutOfRangeReportedBySynchronize:'\
'SparseFfnGpu.EmptySelections:SparseFfnGpu.IndexOutOfRangeReportedBySynchronize:SimBackend.SparseFfnVariantPicksItsKernels:'\
'SimChecks.DynamicShared*:'\
'SimChecks.WritePast*:SimChecks.Atomics*:'\
'Decode/AttentionTest.MatchesCpu/M1_Hq8_Hkv8_hd64_S333_win0_cap30:SampleGpu.NanAndInfinities:'\
'OddShapes/MatmulTest.MatchesCpu/N37_K100_*'

if [ "$kind" = address ]; then
  export ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=0
else
  export TSAN_OPTIONS=halt_on_error=0:second_deadlock_stack=1:report_signal_unsafe=0
fi
export CAPRESE_CUDASIM_THREADS=2

echo "==> sanitize-sim ($kind): the simulator GPU suite ($filter)"
start=$(date +%s)
rc=0
timeout 1500 "$tests" --gtest_filter="$filter" >"$bld.tests.log" 2>&1 || rc=$?
summary=$(grep -E '^\[  (PASSED|FAILED) +\]|tests? ran' "$bld.tests.log" | tr '\n' ' ')
echo "sanitize-sim ($kind): rc $rc in $(($(date +%s) - start)) s: $summary"
if [ "$rc" -ne 0 ] || grep -Eq 'ERROR: (AddressSanitizer|ThreadSanitizer)|WARNING: ThreadSanitizer' "$bld.tests.log"; then
  grep -E -A30 'ERROR: (AddressSanitizer|ThreadSanitizer)|WARNING: ThreadSanitizer|\[  FAILED  \]' "$bld.tests.log" | head -n 80 >&2
  echo "sanitize-sim ($kind): FAILED (log: $bld.tests.log)" >&2
  exit 1
fi

if [ "$kind" = thread ]; then
  echo "==> sanitize-sim (thread): a kernel with a shared-memory race must be reported"
  rc=0
  "$tests" --gtest_also_run_disabled_tests --gtest_filter='SimChecks.DISABLED_SharedMemoryRaceIsReportedUnderTsan' \
    >"$bld.race.log" 2>&1 || rc=$?
  if ! grep -q 'WARNING: ThreadSanitizer: data race' "$bld.race.log"; then
    echo "sanitize-sim (thread): the racy kernel was NOT reported (rc $rc):" >&2
    tail -n 30 "$bld.race.log" >&2
    exit 1
  fi
  echo "sanitize-sim (thread): race reported: $(grep -m1 -A2 'WARNING: ThreadSanitizer: data race' "$bld.race.log" | tr -s ' \n' ' ' | cut -c1-200)"
fi
echo "sanitize-sim ($kind): passed"
