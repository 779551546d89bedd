using System.Globalization;

namespace Caprese.Models.Decoding.Judge;

/// <summary>
/// Turns a <see cref="JudgeTriple"/> into judge training examples, as the judge-decoding paper labels its data: every
/// token of the good answer is acceptable; the bad answer's tokens from its first deviation from the good answer on
/// are unacceptable; the prefix both answers share is labelled once, from the good answer. Each example's features are
/// the dense model's final hidden state at the row of that very token (the state after feeding the prompt and the
/// answer up to and including it), which is where the judge looks at a drafted token during decoding.
/// </summary>
public static class JudgeLabeler
{
    /// <summary>
    /// Examples for one triple: the good answer's tokens in order (acceptable), then the bad answer's tokens from
    /// <see cref="FirstDeviation"/> on (unacceptable). When the bad answer is a prefix of the good one there are no
    /// unacceptable tokens and the model is run once.
    /// </summary>
    /// <param name="promptTokens">The prompt's token ids (may be empty, e.g. when the answers carry the whole context).</param>
    /// <param name="goodTokens">The good answer's token ids, tokenized to follow the prompt.</param>
    /// <param name="badTokens">The bad answer's token ids, tokenized to follow the prompt.</param>
    /// <param name="hiddenRows">
    /// Runs the dense model on a token sequence and returns its final hidden state for every position,
    /// <c>[tokens.Length × dim]</c> row-major: row i is the state after feeding tokens[0..i].
    /// </param>
    /// <exception cref="ArgumentException">An answer is empty.</exception>
    /// <exception cref="InvalidOperationException"><paramref name="hiddenRows"/> returned a wrong-sized or non-finite result.</exception>
    public static IReadOnlyList<JudgeExample> FromTriple(ReadOnlySpan<int> promptTokens, ReadOnlySpan<int> goodTokens, ReadOnlySpan<int> badTokens,
        Func<int[], float[]> hiddenRows)
    {
        ArgumentNullException.ThrowIfNull(hiddenRows);
        if (goodTokens.IsEmpty)
            throw new ArgumentException("the good answer has no tokens", nameof(goodTokens));
        if (badTokens.IsEmpty)
            throw new ArgumentException("the bad answer has no tokens", nameof(badTokens));

        var examples = new List<JudgeExample>(goodTokens.Length + badTokens.Length);
        int dim = AddRows(promptTokens, goodTokens, 0, acceptable: true, hiddenRows, examples, expectedDim: null);
        int deviation = FirstDeviation(goodTokens, badTokens);
        if (deviation < badTokens.Length)
            AddRows(promptTokens, badTokens, deviation, acceptable: false, hiddenRows, examples, dim);
        return examples;
    }

    /// <summary>
    /// The index of the first bad-answer token that differs from the good answer at the same index; when the good
    /// answer is a prefix of the bad one, its length; when the bad answer is a prefix of (or equal to) the good one,
    /// the bad answer's length (nothing deviates).
    /// </summary>
    public static int FirstDeviation(ReadOnlySpan<int> goodTokens, ReadOnlySpan<int> badTokens) =>
        goodTokens.CommonPrefixLength(badTokens);

    // Runs prompt + answer and adds one example per answer token from `first` on; returns the hidden dimension.
    private static int AddRows(ReadOnlySpan<int> prompt, ReadOnlySpan<int> answer, int first, bool acceptable,
        Func<int[], float[]> hiddenRows, List<JudgeExample> examples, int? expectedDim)
    {
        int[] tokens = [.. prompt, .. answer];
        var rows = hiddenRows(tokens)
            ?? throw new InvalidOperationException("the hidden-state delegate returned null");
        if (rows.Length == 0 || rows.Length % tokens.Length != 0)
            throw new InvalidOperationException($"the hidden-state delegate returned {rows.Length} values for {tokens.Length} tokens (expected tokens × dim)");
        int dim = rows.Length / tokens.Length;
        if (expectedDim is { } d && dim != d)
            throw new InvalidOperationException($"the hidden-state delegate returned {dim}-element rows for the bad answer and {d}-element rows for the good one");
        for (int j = first; j < answer.Length; j++)
        {
            // Row of answer token j: the state after feeding prompt + answer[0..j].
            var row = rows.AsSpan((prompt.Length + j) * dim, dim);
            int bad = IndexOfNonFinite(row);
            if (bad >= 0)
                throw new InvalidOperationException($"the hidden state of row {prompt.Length + j} has a non-finite element {bad} ({row[bad].ToString(CultureInfo.InvariantCulture)})");
            examples.Add(new JudgeExample(row.ToArray(), acceptable));
        }
        return dim;
    }

    private static int IndexOfNonFinite(ReadOnlySpan<float> row)
    {
        for (int i = 0; i < row.Length; i++)
            if (!float.IsFinite(row[i]))
                return i;
        return -1;
    }
}
