using System.Collections;

namespace Caprese.Models.Training.Corpus;

/// <summary>
/// The sequences stage 1 (and stage 2) train on. Build one with <see cref="SyntheticCorpus.Generate"/> (the dense
/// model continuing seeded prompts) or <see cref="TextCorpus.FromFile"/> (a user's text or JSONL file).
/// </summary>
public sealed class DistillationCorpus : IReadOnlyList<DistillationSequence>
{
    private readonly DistillationSequence[] _sequences;

    public DistillationCorpus(IEnumerable<DistillationSequence> sequences)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        _sequences = [.. sequences];
        if (_sequences.Any(s => s is null))
            throw new ArgumentException("null sequence", nameof(sequences));
    }

    public int Count => _sequences.Length;
    public DistillationSequence this[int index] => _sequences[index];

    /// <summary>Continuation tokens over all sequences: the FFN rows stage 1 collects per sparsified layer.</summary>
    public int ContinuationTokens => _sequences.Sum(s => s.Continuation.Length);

    /// <summary>The longest sequence (prompt + continuation).</summary>
    public int MaxLength => _sequences.Length == 0 ? 0 : _sequences.Max(s => s.Length);

    /// <summary>A seeded shuffle cut in two: the last ⌈fraction·Count⌉ sequences are held out (at least one of each when Count ≥ 2).</summary>
    public (DistillationCorpus Train, DistillationCorpus HeldOut) Split(double heldOutFraction, int seed)
    {
        if (!(heldOutFraction > 0 && heldOutFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(heldOutFraction), heldOutFraction, "must be in (0, 1)");
        if (Count < 2)
            throw new InvalidOperationException($"cannot split {Count} sequence(s)");
        var order = _sequences.ToArray();
        new Random(seed).Shuffle(order);
        int heldOut = Math.Clamp((int)Math.Ceiling(heldOutFraction * Count), 1, Count - 1);
        return (new DistillationCorpus(order[..^heldOut]), new DistillationCorpus(order[^heldOut..]));
    }

    public IEnumerator<DistillationSequence> GetEnumerator() => ((IEnumerable<DistillationSequence>)_sequences).GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
