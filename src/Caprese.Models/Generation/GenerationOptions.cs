namespace Caprese.Models.Generation;

/// <summary>
/// How to generate. Temperature 0 means greedy (argmax) decoding; TopK 0 and TopP 1 disable those filters.
/// Generation also ends when the generated text contains one of <see cref="StopStrings"/>; the stop string
/// and anything after it are not emitted. <see cref="Decoding"/> chooses how tokens are produced (one per forward pass by
/// default; speculative, Sirius or judge decoding with the generator's policy as the draft).
/// </summary>
public sealed record GenerationOptions(
    int MaxTokens = 256,
    float Temperature = 0f,
    int TopK = 0,
    float TopP = 1f,
    int? Seed = null,
    IReadOnlyList<string>? StopStrings = null)
{
    /// <summary>How tokens are produced; null = <see cref="Decoding.PlainDecoding"/> (one token per forward pass).</summary>
    public Decoding.IDecodingMethod? Decoding { get; init; }

    /// <summary>
    /// Ends generation (<see cref="StopReason.StopCondition"/>) as soon as it returns true for the text generated so far,
    /// before stop strings are cut from it; asked once per generated token. For ends a literal stop string cannot say,
    /// e.g. "a complete <c>#### 18</c> line". The text it was true for is emitted whole; null = none.
    /// </summary>
    public Func<string, bool>? StopWhen { get; init; }

    public void Validate()
    {
        if (MaxTokens < 0)
            throw new ArgumentOutOfRangeException(nameof(MaxTokens), MaxTokens, "must be >= 0");
        if (!(Temperature >= 0f) || float.IsInfinity(Temperature))
            throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "must be a finite value >= 0");
        if (TopK < 0)
            throw new ArgumentOutOfRangeException(nameof(TopK), TopK, "must be >= 0 (0 = off)");
        if (!(TopP > 0f && TopP <= 1f))
            throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "must be in (0, 1] (1 = off)");
        if (StopStrings is not null && StopStrings.Any(string.IsNullOrEmpty))
            throw new ArgumentException("stop strings must be non-empty", nameof(StopStrings));
    }
}
