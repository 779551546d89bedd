namespace Caprese.Models.Training.Corpus;

/// <summary>
/// One training sequence: the prompt runs as a dense prefill (and gives GRIFFIN's selection / CATS's τ), the
/// continuation is teacher-forced token by token; its positions are the ones inference decodes sparsely.
/// </summary>
public sealed record DistillationSequence
{
    public DistillationSequence(int[] prompt, int[] continuation)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(continuation);
        if (prompt.Length == 0 || continuation.Length == 0)
            throw new ArgumentException($"prompt ({prompt.Length} tokens) and continuation ({continuation.Length}) must both be non-empty");
        Prompt = prompt;
        Continuation = continuation;
    }

    public int[] Prompt { get; }
    public int[] Continuation { get; }
    public int Length => Prompt.Length + Continuation.Length;

    /// <summary>Prompt then continuation, as one array.</summary>
    public int[] Tokens => [.. Prompt, .. Continuation];
}
