#!/usr/bin/env python3
"""Renders what a GPU validation call brought back as a readable Markdown page for
bench/results/: commit, device and toolchain, the steps' verdicts, and the kernel harness's
figures (each case's check against the CPU backend, time, GB/s, fraction of the roofline
measured in the same run).

  gpu-bench-report.py gpu-validation.json kernel-bench.json > bench/results/gpu-validation-DATE.md
"""
import json
import sys


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    v = json.load(open(sys.argv[1]))
    b = json.load(open(sys.argv[2]))
    ver = v.get("versions", {})
    w = print
    w("# GPU validation, %s" % v.get("date", "?")[:10])
    w()
    if b.get("simulated"):
        w("**Simulated** (CUDA simulator on the CPU): the times below are not GPU figures.")
        w()
    w("- commit: `%s`" % v.get("commit"))
    w("- device: %s; driver %s; harness saw %s (cc %s, %s SMs, L2 %.0f MiB)" % (
        ver.get("gpu"), ver.get("driver"), b.get("gpu"), b.get("compute_capability"),
        b.get("multiprocessors"), b.get("l2_bytes", 0) / 1048576))
    w("- toolchain: nvcc %s; %s; compute-sanitizer %s; %s" % (
        ver.get("nvcc"), ver.get("cmake"), ver.get("compute_sanitizer"), ver.get("generator")))
    w("- verdict: **%s** (%s mode, %.0f s of a %.0f s deadline)" % (
        "pass" if v.get("pass") else "FAIL", v.get("mode"), v.get("wall_s", 0), v.get("deadline_s", 0)))
    w()
    w("| step | status | seconds | note |")
    w("| --- | --- | ---: | --- |")
    for s in v.get("steps", []):
        w("| %s | %s | %.1f | %s |" % (s["name"], s["status"], s["seconds"], s.get("note", "")))
    t = v.get("tests") or {}
    w()
    w("GPU tests: %s passed, %s failed, %s skipped." % (t.get("passed"), t.get("failed"), t.get("skipped")))
    w()
    w("## Kernel harness (%s sweep)" % b.get("sweep"))
    w()
    w("Method: %s. Roofline (streaming read): %.0f GB/s. Median of %s repeats.%s" % (
        b.get("method"), b.get("roofline_gbps", 0), b.get("repeats"),
        " The sweep was cut short by its time budget." if b.get("truncated") else ""))
    w()
    w("| op | impl | dtype | shape | check (max err / max ref, rtol) | µs | GB/s | of roofline | vs dense |")
    w("| --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: |")
    for c in b.get("cases", []):
        chk = c.get("check")
        check = "—" if not chk else "%s (%.1e / %.1e, %.0e)" % (
            "ok" if chk["pass"] else "**FAILED**", chk["max_abs_err"], chk["ref_max_abs"], chk["rtol"])
        timed = c["median_us"] > 0
        w("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            c["op"], c["impl"], c["dtype"], c["shape"], check,
            "%.2f" % c["median_us"] if timed else "—", "%.1f" % c["gbps"] if timed else "—",
            "%.0f %%" % (100 * c["roofline_fraction"]) if timed else "—",
            "x%.2f" % c["speedup_vs_dense"] if c.get("speedup_vs_dense") else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
