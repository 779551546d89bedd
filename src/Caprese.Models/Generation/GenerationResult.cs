namespace Caprese.Models.Generation;

/// <summary>Outcome of a one-shot generation.</summary>
public sealed record GenerationResult(
    string Text,
    IReadOnlyList<int> PromptTokens,
    IReadOnlyList<int> GeneratedTokens,
    GenerationStats Stats);

/// <summary>
/// Timing of one generation. <see cref="DecodeSteps"/> counts the forward passes after the prefill (draft steps and
/// dense passes); <see cref="Decoding"/> has the decoding method's counters (tokens per dense pass and so on).
/// </summary>
public sealed record GenerationStats(
    int PromptTokenCount,
    int GeneratedTokenCount,
    double PrefillMilliseconds,
    double DecodeMilliseconds,
    int DecodeSteps,
    StopReason StopReason)
{
    /// <summary>The decoding method's counters; its Tokens are the tokens chosen after the prefill.</summary>
    public Decoding.DecodingStats Decoding { get; init; }

    /// <summary>Tokens chosen after the prefill per second of decoding (one per step for plain decoding).</summary>
    public double DecodeTokensPerSecond => DecodeMilliseconds > 0 ? DecodeTokens * 1000.0 / DecodeMilliseconds : 0;

    /// <summary>Tokens chosen after the prefill: the decoding method's count, or one per step where it kept none.</summary>
    public long DecodeTokens => Decoding.Tokens > 0 ? Decoding.Tokens : DecodeSteps;
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
    /// <summary><see cref="GenerationOptions.StopWhen"/> returned true.</summary>
    StopCondition,
}
