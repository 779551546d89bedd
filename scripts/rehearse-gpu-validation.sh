#!/usr/bin/env bash
# Rehearses scripts/gpu-validate.sh on a machine without a GPU (CI runs this), so the one GPU
# call a session may get is not spent finding the script's own bugs:
#   1. prepares third_party/ as for the device call (GoogleTest sources, COMMIT);
#   2. runs the validation end to end in --simulator mode, from an empty build folder, with
#      GTest hidden from CMake and Ninja, as the GPU machine would build;
#   3. checks the JSON it wrote: every step present with its seconds, each passed (the
#      sanitizer steps "not-available"), tests passed and none failed, every harness case
#      checked against the CPU backend, the steps' total under the deadline, at most 8 files
#      in the result folder (what the device call brings back);
#   4. runs it again and stops it with SIGTERM while its tests run, and checks that the
#      summary it leaves says so (a killed call must still return what ran).
#
#   scripts/rehearse-gpu-validation.sh        (CAPRESE_REHEARSAL_KEEP_BUILD=1 reuses the build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=build/gv-rehearsal
out=build/gv-rehearsal-out
out_killed=build/gv-rehearsal-killed
deadline=450

bash scripts/prepare-gpu-bundle.sh
[ "${CAPRESE_REHEARSAL_KEEP_BUILD:-0}" = 1 ] || rm -rf "$build"
rm -rf "$out" "$out_killed"

echo "==> rehearsal: gpu-validate.sh --simulator (deadline ${deadline}s)"
rc=0
bash scripts/gpu-validate.sh --simulator --out "$out" --build-dir "$build" --deadline "$deadline" || rc=$?

echo "==> rehearsal: checking $out/gpu-validation.json"
python3 - "$out" "$deadline" "$rc" <<'PY'
import json, os, sys
out, deadline, rc = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
s = json.load(open(os.path.join(out, "gpu-validation.json")))
problems = []
steps = {st["name"]: st for st in s["steps"]}
want = {"environment": "pass", "configure": "pass", "build": "pass", "gtest": "pass",
        "memcheck": "not-available", "racecheck": "not-available", "bench": "pass", "sparse-variants": "pass"}
for name, status in want.items():
    st = steps.get(name)
    if st is None:
        problems.append("step %s missing" % name)
        continue
    if st["status"] != status:
        problems.append("step %s: %s, wanted %s (%s)" % (name, st["status"], status, st.get("note", "")))
    if not isinstance(st.get("seconds"), (int, float)) or st["seconds"] < 0:
        problems.append("step %s: no seconds recorded" % name)
    if status == "pass" and name != "environment" and not st["seconds"] > 0:
        problems.append("step %s: passed in 0 s, so it cannot have run" % name)
total = sum(st["seconds"] for st in s["steps"])
if total >= deadline:
    problems.append("steps took %.0f s, not under the %.0f s deadline" % (total, deadline))
if not (s["pass"] and s["finished"] and rc == 0):
    problems.append("summary pass=%s finished=%s, script exit %d" % (s["pass"], s["finished"], rc))
t = s.get("tests") or {}
if not t.get("passed") or t.get("failed") or t.get("skipped"):
    problems.append("tests: %s" % t)
bench = json.load(open(os.path.join(out, "kernel-bench.json")))
cases = [c for c in bench["cases"] if c["impl"] != "roofline"]
if not bench.get("complete") or not bench.get("simulated") or not cases:
    problems.append("kernel bench incomplete, not simulated, or empty")
variants = json.load(open(os.path.join(out, "sparse-ffn-variants.json")))
variant_cases = [c for c in variants["cases"] if c["op"] == "sparse_ffn"]
if not variants.get("complete") or {c["impl"].split("/")[-1] for c in variant_cases} != {"serial", "tree", "wide"}:
    problems.append("sparse FFN variants incomplete or missing a variant")
cases += [c for c in variants["cases"] if c["impl"] != "roofline"]
unchecked = [c["op"] + " " + c["impl"] + " " + c["shape"] for c in cases if not c.get("check", {}).get("pass")]
if unchecked:
    problems.append("harness cases without a passed check: %s" % unchecked[:5])
files = [f for f in os.listdir(out)]
if len(files) > 8:
    problems.append("%d files in the result folder; the device call brings back 8: %s" % (len(files), files))
for name, st in steps.items():
    print("  %-12s %-13s %6.1f s" % (name, st["status"], st["seconds"]))
print("  total %.1f s of %.0f s; %d tests passed; %d harness cases checked; files: %s"
      % (total, deadline, t.get("passed", 0), len(cases), ", ".join(sorted(files))))
if problems:
    print("rehearsal FAILED:\n  " + "\n  ".join(problems))
    sys.exit(1)
PY

echo "==> rehearsal: stopping a second run with SIGTERM during its tests"
# Its own process group, as the device tool's command is: the signal reaches every process.
setsid bash scripts/gpu-validate.sh --simulator --out "$out_killed" --build-dir "$build" --deadline "$deadline" \
  > "$build/killed-run.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  grep -q '"name": "gtest"' "$out_killed/gpu-validation.json" 2> /dev/null && break
  sleep 0.2
done
sleep 1
kill -TERM -- "-$pid"
wait "$pid" || true
python3 - "$out_killed" <<'PY'
import json, os, sys
s = json.load(open(os.path.join(sys.argv[1], "gpu-validation.json")))
st = {x["name"]: x["status"] for x in s["steps"]}
ok = s["finished"] and not s["pass"] and st.get("build") == "pass" and st.get("gtest") == "interrupted"
print("  after SIGTERM: finished=%s pass=%s steps=%s" % (s["finished"], s["pass"], st))
if not ok:
    print("rehearsal FAILED: the summary of a stopped run must be final, failed, and name the step it stopped in")
    sys.exit(1)
PY
echo "rehearsal passed"
