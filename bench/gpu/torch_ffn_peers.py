#!/usr/bin/env python3
"""PyTorch peers for the sparse FFN benchmark, run on the GPU machine next to caprese_kernel_bench.

Times, at the Llama-3.1-8B, Qwen2.5-14B and Llama-3.1-70B FFN shapes (f16 weights), batch 1..16:
  dense    silu(x Wg^T) * (x Wu^T) Wd^T with F.linear (cuBLAS underneath)
  sliced   GRIFFIN's pre-sliced FFN: the same three F.linear calls over weights sliced to the
           kept neurons once (the slicing is not timed: it happens once per prompt)
for sparsity 0..90% in steps of 10, plus a streaming-read roofline (sum over a 2 GiB f16 tensor)
measured in the same run. Each figure is the median of --reps timings with CUDA events; L2 is
flushed before every timed call (a 512 MiB write), as the C++ harness does.

Usage: torch_ffn_peers.py OUT.json [--reps 50]
"""
import json
import statistics
import sys

import torch
import torch.nn.functional as F

SHAPES = [("8B", 4096, 14336), ("14B", 5120, 13824), ("70B", 8192, 28672)]
BATCHES = [1, 2, 4, 8, 16]
SPARSITIES = list(range(0, 100, 10))


def timed_us(fn, reps, flush):
    for _ in range(5):  # warm-up (cuBLAS heuristics, allocator)
        fn()
    times = []
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for _ in range(reps):
        flush.add_(1)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) * 1000.0)
    return statistics.median(times)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    reps = int(sys.argv[sys.argv.index("--reps") + 1]) if "--reps" in sys.argv else 50
    if not torch.cuda.is_available():
        sys.exit("torch_ffn_peers: no CUDA device visible to PyTorch")
    dev = torch.device("cuda")
    torch.manual_seed(0)
    flush = torch.zeros(128 * 1024 * 1024, dtype=torch.float32, device=dev)

    stream = torch.empty(1024 * 1024 * 1024, dtype=torch.float16, device=dev).uniform_(-1, 1)
    stream_us = timed_us(lambda: stream.sum(dtype=torch.float32), reps, flush)
    roofline = stream.numel() * 2 / (stream_us * 1e-6) / 1e9
    del stream
    results = []
    for name, d, h in SHAPES:
        wg = torch.randn(h, d, dtype=torch.float16, device=dev) * 0.02
        wu = torch.randn(h, d, dtype=torch.float16, device=dev) * 0.02
        wd = torch.randn(d, h, dtype=torch.float16, device=dev) * 0.02
        for m in BATCHES:
            x = torch.randn(m, d, dtype=torch.float16, device=dev)

            def ffn(g, u, dn):
                return F.linear(F.silu(F.linear(x, g)) * F.linear(x, u), dn)

            dense_us = timed_us(lambda: ffn(wg, wu, wd), reps, flush)
            dense_bytes = 3.0 * h * d * 2
            results.append(dict(variant="torch-dense", model=name, d=d, h=h, m=m, sparsity=0,
                                us=dense_us, gbps=dense_bytes / (dense_us * 1e-6) / 1e9, speedup=1.0))
            for s in SPARSITIES:
                k = h * (100 - s) // 100
                idx = torch.randperm(h, device=dev)[:k].sort().values
                sg, su, sd = wg[idx].contiguous(), wu[idx].contiguous(), wd[:, idx].contiguous()
                us = timed_us(lambda: ffn(sg, su, sd), reps, flush)
                results.append(dict(variant="torch-sliced", model=name, d=d, h=h, m=m, sparsity=s, us=us,
                                    gbps=3.0 * k * d * 2 / (us * 1e-6) / 1e9, speedup=dense_us / us))
                del sg, su, sd
            print(f"{name} M{m}: dense {dense_us:.1f} us", file=sys.stderr)
        del wg, wu, wd
        torch.cuda.empty_cache()
    doc = dict(tool="torch_ffn_peers", torch=torch.__version__, device=torch.cuda.get_device_name(0),
               reps=reps, roofline_gbps=roofline, results=results)
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
    import os
    os.replace(tmp, out)  # never a half-written result file


if __name__ == "__main__":
    main()
