#!/usr/bin/env python3
"""Writes the JSON summary of scripts/gpu-validate.sh from what its steps left behind.

gpu-validate.sh records only facts (each step's exit code, seconds, timeout, log); this script
turns them into verdicts, so the rules live in one place:
  - a step exits 0 -> pass; 124/137 (timeout's codes) -> timeout; otherwise fail; a step the
    validation was signalled in -> interrupted; one still going -> running;
  - gtest: also fail if its JSON is missing, no test passed, a test failed, or (on a GPU, not
    on the simulator) a test was skipped: there a skip means the GPU path did not run;
  - memcheck/racecheck: fail on any error in compute-sanitizer's summary or a test failing
    under it; "not-available" when the tool could not start on this device (no summary, and
    its log says so) rather than a kernel error;
  - bench (and sparse-variants, the sparse FFN kernel variants): fail if a case failed its
    check against the CPU reference.
The JSON is written to a temporary file and renamed, so a reader never sees half of it.

  gpu-validation-summary.py --work DIR --out FILE --mode gpu|simulator --deadline S [--final]
Exit status with --final: 0 when the validation passed, 1 otherwise.
"""
import argparse
import datetime
import json
import os
import re
import sys

# Every mode runs these; any other step (the extras) is reported but does not decide "pass".
REQUIRED = ["environment", "configure", "build", "gtest", "memcheck", "racecheck", "bench"]
# Steps that run caprese_kernel_bench, and the JSON each leaves in the result folder.
BENCH_FILES = {"bench": "kernel-bench.json", "sparse-variants": "sparse-ffn-variants.json"}
# compute-sanitizer's own lines when it cannot work on a machine (seen: "Device not supported").
UNAVAILABLE = re.compile(r"^=+ .*(not supported|unsupported|unable to (load|find|initiali[sz]e))", re.I | re.M)


def read(path, default=""):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return default


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def tail(text, lines=25):
    return text.rstrip("\n").splitlines()[-lines:]


def gtest_counts(path):
    """Passed/failed/skipped counts and names from a gtest --gtest_output=json file."""
    data = load_json(path)
    if data is None:
        return None
    c = {"passed": 0, "failed": 0, "skipped": 0, "failed_names": [], "skipped_names": []}
    for suite in data.get("testsuites", []):
        for t in suite.get("testsuite", []):
            name = suite.get("name", "?") + "." + t.get("name", "?")
            if t.get("failures"):
                c["failed"] += 1
                c["failed_names"].append(name)
            elif t.get("result") == "SKIPPED" or t.get("status") == "NOTRUN":
                c["skipped"] += 1
                c["skipped_names"].append(name)
            else:
                c["passed"] += 1
    return c


def sanitizer_findings(log):
    """Error count from compute-sanitizer's summary lines, and its first report lines."""
    errors = None
    m = re.search(r"ERROR SUMMARY: (\d+) error", log)
    if m:
        errors = int(m.group(1))
    warnings = None
    m = re.search(r"RACECHECK SUMMARY: \d+ hazards? displayed \((\d+) errors?, (\d+) warnings?\)", log)
    if m:
        errors = max(errors or 0, int(m.group(1)))
        warnings = int(m.group(2))
    # The reports name the kernel (the project's own live in namespace caprese::cuda).
    reports = []
    for line in log.splitlines():
        if line.startswith("=========") and "SUMMARY" not in line and line.strip("= ") and line not in reports:
            reports.append(line)
    return errors, warnings, reports[:20]


def step_verdict(step, work, out, mode):
    name, raw = step["name"], step.pop("raw")
    log = read(os.path.join(work, "logs", name + ".log"))
    if raw in ("not-run", "not-available", "running"):
        status = raw
    elif raw == "0":
        status = "pass"
    elif raw in ("124", "137"):
        status = "timeout"
    elif raw == "interrupted":
        status = "interrupted"
    else:
        status = "fail"
    if raw not in ("not-run", "running", "interrupted"):
        step["exit_code"] = int(raw) if raw.lstrip("-").isdigit() else None

    if name == "gtest" and status in ("pass", "fail"):
        c = gtest_counts(os.path.join(out, "gtest.json"))
        if c is None:
            status, step["note"] = "fail", "no gtest JSON (the test binary did not finish)"
        else:
            step["tests"] = c
            problems = []
            if c["failed"]:
                problems.append("%d failed" % c["failed"])
            if c["passed"] == 0:
                problems.append("no test passed")
            if c["skipped"] and mode == "gpu":
                problems.append("%d skipped on a GPU machine" % c["skipped"])
            if problems:
                status, step["note"] = "fail", "; ".join(problems)
    elif name in ("memcheck", "racecheck") and status in ("pass", "fail"):
        errors, warnings, reports = sanitizer_findings(log)
        step.update({"errors": errors, "first_reports": reports})
        if warnings is not None:
            step["warnings"] = warnings
        c = gtest_counts(os.path.join(work, name + "-gtest.json"))
        if c is not None:
            step["tests"] = {k: c[k] for k in ("passed", "failed", "skipped", "failed_names")}
        if errors is None and status == "fail" and UNAVAILABLE.search(log):
            status, step["note"] = "not-available", "compute-sanitizer could not run on this device (see log_tail)"
        elif errors:
            status, step["note"] = "fail", "%d sanitizer error(s)" % errors
        elif c is not None and (c["failed"] or c["passed"] == 0):
            status, step["note"] = "fail", "tests failed under the sanitizer"
        elif status == "fail" and errors is None:
            step["note"] = "no sanitizer summary: the tool or the program failed (see log_tail)"
    elif name in BENCH_FILES and status in ("pass", "fail"):
        b = load_json(os.path.join(out, BENCH_FILES[name]))
        if b is None:
            status, step["note"] = "fail", "no " + BENCH_FILES[name]
        else:
            cases = b.get("cases", [])
            step["bench"] = {
                "cases": len(cases),
                "checks_failed": b.get("checks_failed"),
                "truncated": b.get("truncated"),
                "complete": b.get("complete"),
                "roofline_gbps": b.get("roofline_gbps"),
                "gpu": b.get("gpu"),
            }
            if b.get("checks_failed"):
                status, step["note"] = "fail", "%d case(s) failed the check against the CPU backend" % b["checks_failed"]
            elif len(cases) < 2:
                status, step["note"] = "fail", "the harness measured nothing"
            elif b.get("truncated"):
                step["note"] = "sweep cut short by its time budget; the cases that ran are all checked"
    step["status"] = status
    if status not in ("pass", "not-run"):
        step["log_tail"] = tail(log)
    return step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--mode", choices=["gpu", "simulator"], required=True)
    ap.add_argument("--deadline", type=float, required=True)
    ap.add_argument("--t0-ms", type=int, required=True, help="when the validation started (ms since the epoch)")
    ap.add_argument("--running", help="the step in progress now, shown as running")
    ap.add_argument("--running-timeout", type=int, default=0)
    ap.add_argument("--final", action="store_true")
    a = ap.parse_args()
    out_dir = os.path.dirname(os.path.abspath(a.out))

    env = {}
    for line in read(os.path.join(a.work, "env.tsv")).splitlines():
        if "\t" in line:
            k, v = line.split("\t", 1)
            env[k] = v
    steps = []
    for line in read(os.path.join(a.work, "steps.tsv")).splitlines():
        f = line.split("\t")
        if len(f) < 5:
            continue
        steps.append({"name": f[0], "raw": f[1], "seconds": float(f[2]), "timeout_s": int(f[3]),
                      **({"note": f[4]} if f[4] else {})})
    if a.running:
        steps.append({"name": a.running, "raw": "running", "seconds": 0.0, "timeout_s": a.running_timeout,
                      "note": "in progress when this summary was written (if it is the last, the call ended here)"})
    steps = [step_verdict(s, a.work, out_dir, a.mode) for s in steps]

    statuses = {s["name"]: s["status"] for s in steps}
    missing = [n for n in REQUIRED if n not in statuses]
    ok_states = ("pass", "not-available")
    passed = not missing and all(statuses[n] in ok_states for n in REQUIRED)
    gtest = next((s for s in steps if s["name"] == "gtest"), {})
    records = load_json(os.path.join(out_dir, "gpu-op-errors.json")) or []
    wall_s = (datetime.datetime.now().timestamp() * 1000 - a.t0_ms) / 1000
    report = {
        "schema": 1,
        "mode": a.mode,
        "pass": passed,
        # pass with every required step actually run (on a GPU: the sanitizers too)
        "complete": passed and all(statuses.get(n) == "pass" for n in REQUIRED
                                   if not (a.mode == "simulator" and n in ("memcheck", "racecheck"))),
        # the optional extras (PyTorch, CLI, ILGPU peers) that did not pass; they do not decide "pass"
        "extras_not_passed": [s["name"] for s in steps if s["name"] not in REQUIRED and s["status"] != "pass"],
        "finished": a.final,
        "missing_steps": missing,
        "commit": env.get("commit", "unknown"),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "deadline_s": a.deadline,
        "steps_s": round(sum(s["seconds"] for s in steps), 1),
        "wall_s": round(wall_s, 1),
        "versions": {k[len("version."):]: v for k, v in env.items() if k.startswith("version.")},
        "config": {k[len("config."):]: v for k, v in env.items() if k.startswith("config.")},
        "tests": gtest.get("tests"),
        "steps": steps,
        "op_error_records": len(records),
        "op_records_failed": sum(1 for r in records if not r.get("pass")),
        "files": sorted(f for f in os.listdir(out_dir) if not f.endswith(".tmp")),
    }
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    os.replace(tmp, a.out)
    if a.final:
        for s in steps:
            print("  %-12s %-13s %6.1f s%s" % (s["name"], s["status"], s["seconds"],
                                              "  (" + s["note"] + ")" if s.get("note") else ""))
        print("validation %s (%s mode, %.0f s of a %.0f s deadline)" % (
            "PASSED" if passed else "FAILED", a.mode, report["wall_s"], a.deadline))
        return 0 if passed else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
