using Caprese.Interop.Native;

namespace Caprese.Interop;

/// <summary>Parameters of <see cref="CapreseContext.Sample"/>; mirrors <c>caprese_sampling_params</c> (its reserved flags are 0).</summary>
/// <param name="Temperature">Finite, &gt; 0 (greedy decoding uses <see cref="CapreseContext.Argmax"/>).</param>
/// <param name="TopK">0 = off; else keep the k largest logits (all ties at the k-th value kept).</param>
/// <param name="TopP">(0, 1]; 1 = off; else keep the smallest set of largest probabilities (after top-k,
/// renormalised) whose mass reaches TopP (ties at the boundary kept).</param>
/// <param name="Seed">Seed of the counter-based generator.</param>
/// <param name="Offset">Counter of row 0 (row m uses Offset + m), e.g. the decode step.</param>
public readonly record struct SamplingParams(float Temperature, int TopK = 0, float TopP = 1f, ulong Seed = 0, ulong Offset = 0)
{
    internal NativeSamplingParams ToNative() => new()
    {
        Temperature = Temperature,
        TopK = TopK,
        TopP = TopP,
        Flags = 0,
        Seed = Seed,
        Offset = Offset,
    };
}
