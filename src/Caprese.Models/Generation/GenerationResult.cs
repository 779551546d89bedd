namespace Caprese.Models.Generation;

/// <summary>Outcome of a one-shot generation.</summary>
public sealed record GenerationResult(
    string Text,
    IReadOnlyList<int> PromptTokens,
    IReadOnlyList<int> GeneratedTokens,
    GenerationStats Stats);

/// <summary>Timing of one generation. Decode speed counts the forward passes after prefill.</summary>
public sealed record GenerationStats(
    int PromptTokenCount,
    int GeneratedTokenCount,
    double PrefillMilliseconds,
    double DecodeMilliseconds,
    int DecodeSteps,
    StopReason StopReason)
{
    public double DecodeTokensPerSecond => DecodeMilliseconds > 0 ? DecodeSteps * 1000.0 / DecodeMilliseconds : 0;
}

public enum StopReason
{
    /// <summary>The model produced the end-of-sequence token.</summary>
    EndOfSequence,
    /// <summary><see cref="GenerationOptions.MaxTokens"/> tokens were generated.</summary>
    MaxTokens,
    /// <summary>The model's context window is full.</summary>
    ContextFull,
    /// <summary>The text reached one of <see cref="GenerationOptions.StopStrings"/>.</summary>
    StopString,
}
