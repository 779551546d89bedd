namespace Caprese.Models.Sparsity;

/// <summary>Which contextual-sparsity method decodes the sparsified layers' FFNs.</summary>
public enum SparsityMethod
{
    /// <summary>Dense decode.</summary>
    None = 0,
    /// <summary>Per-prompt top-k neurons from the prefill's flocking scores (gathered or compacted).</summary>
    Griffin = 1,
    /// <summary>Per-layer threshold on |act(x·Wg)| calibrated from the prefill rows.</summary>
    Cats = 2,
    /// <summary>Input-magnitude thresholds per linear input, applied as a host-side mask (no sparse-input kernel yet: quality only, slower).</summary>
    Teal = 3,
}

/// <summary>How a GRIFFIN selection reaches the kernel.</summary>
public enum GriffinPath
{
    /// <summary>Index list; the kernel gathers the kept rows every step (no copy per prompt).</summary>
    Gather = 0,
    /// <summary>Kept rows copied into compact [k, D] buffers once per prompt; the kernel runs them all.</summary>
    Compact = 1,
    /// <summary>
    /// Compact on every backend: contiguous rows stream at the memory's speed (coalesced on CUDA; on the CPU one
    /// sequential stream per thread, where gathered rows reached about two thirds of that speed even with software
    /// prefetch, bench-latency 2026-12-07). Costs 3·k·D weights per sparsified layer per session: pick
    /// <see cref="Gather"/> to save that memory.
    /// </summary>
    Auto = 2,
}

/// <summary>What a <see cref="GriffinPath"/> means when it runs.</summary>
public static class GriffinPathExtensions
{
    /// <summary>The path the kernel takes: <see cref="GriffinPath.Auto"/> resolved (to compact rows).</summary>
    public static GriffinPath Resolved(this GriffinPath path) => path == GriffinPath.Auto ? GriffinPath.Compact : path;
}
