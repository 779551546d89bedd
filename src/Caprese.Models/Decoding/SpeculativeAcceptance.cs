namespace Caprese.Models.Decoding;

/// <summary>What verifying one drafted block produced.</summary>
/// <param name="Accepted">How many drafted tokens were accepted, from the first: 0 .. γ.</param>
/// <param name="NextToken">The token emitted after the accepted ones: the resampled (or, greedy, the target's own)
/// token at the first rejection, or the bonus token from the last target row when every drafted token was accepted.</param>
public readonly record struct VerifiedBlock(int Accepted, int NextToken)
{
    /// <summary>Tokens the block adds to the sequence: the accepted ones and <see cref="NextToken"/>.</summary>
    public int Emitted => Accepted + 1;
}

/// <summary>
/// The speculative sampling rule (Leviathan et al. 2023; Chen et al. 2023): a token x drafted from q is accepted with
/// probability min(1, p[x]/q[x]); on rejection the token is drawn from normalise(max(0, p − q)). Every emitted token
/// is then distributed exactly as the target p, whatever q is. Distributions are full-vocabulary probability rows
/// (<see cref="TokenDistribution.FromLogits"/>), the target's and the draft's under the same sampling settings.
/// </summary>
public static class SpeculativeAcceptance
{
    /// <summary>
    /// Whether the drafted token <paramref name="x"/> is accepted: u·q[x] &lt; p[x], which is u &lt; min(1, p[x]/q[x])
    /// for q[x] &gt; 0 and u in [0, 1).
    /// </summary>
    /// <remarks>
    /// q[x] = 0 cannot happen when x really was drawn from q, so it never affects the distribution of the output; it
    /// means the q given is not the one the draft sampled from (another filter, rounding). The product form then
    /// accepts exactly when p[x] &gt; 0 (the limit of the ratio is +∞, so min(1, ·) = 1), and a token the target gives
    /// zero probability is always rejected, whatever q says: the output never contains a token p forbids.
    /// </remarks>
    /// <param name="p">Target distribution.</param>
    /// <param name="q">Draft distribution, the same length.</param>
    /// <param name="x">The drafted token.</param>
    /// <param name="u">A uniform draw in [0, 1).</param>
    public static bool Accept(ReadOnlySpan<float> p, ReadOnlySpan<float> q, int x, double u)
    {
        CheckPair(p, q);
        ArgumentOutOfRangeException.ThrowIfNegative(x);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(x, p.Length);
        CheckUniform(u);
        return u * q[x] < p[x];
    }

    /// <summary>
    /// The token after a rejection: a draw from normalise(max(0, p − q)) by inverse CDF with <paramref name="u"/>.
    /// When that residual is all zero (p ≤ q everywhere, i.e. p = q for normalised rows, where a rejection has
    /// probability zero), the draw is from p instead.
    /// </summary>
    /// <param name="p">Target distribution.</param>
    /// <param name="q">Draft distribution, the same length.</param>
    /// <param name="u">A uniform draw in [0, 1).</param>
    /// <param name="scratch">At least as long as <paramref name="p"/>; receives the unnormalised residual.</param>
    public static int Resample(ReadOnlySpan<float> p, ReadOnlySpan<float> q, double u, Span<float> scratch)
    {
        CheckPair(p, q);
        CheckUniform(u);
        if (scratch.Length < p.Length)
            throw new ArgumentException($"scratch has {scratch.Length} entries for a vocabulary of {p.Length}", nameof(scratch));
        var residual = scratch[..p.Length];
        bool any = false;
        for (int i = 0; i < p.Length; i++)
        {
            // Float subtraction of unequal floats is never 0, so every token with p > q keeps some mass.
            float d = p[i] - q[i];
            residual[i] = d > 0 ? d : 0f;
            any |= d > 0;
        }
        return TokenDistribution.Sample(any ? residual : p, u);
    }

    /// <summary>
    /// Verifies a drafted block of γ tokens against the target: accepts drafted tokens in order while
    /// <see cref="Accept"/> does, resamples at the first rejection, or draws the bonus token from the last target row
    /// when all γ were accepted.
    /// </summary>
    /// <remarks>
    /// Uniforms are taken from <paramref name="uniform"/> in this order: one per acceptance test, then one for the
    /// resample or the bonus draw, so at most γ + 1 per block and the same stream gives the same tokens.
    /// </remarks>
    /// <param name="drafted">The γ drafted tokens (γ may be 0: then only the bonus token is drawn).</param>
    /// <param name="draftRows">q rows, row-major [γ, V]: row i is the distribution drafted[i] was drawn from.</param>
    /// <param name="targetRows">p rows, row-major [γ + 1, V]: row i is the target's distribution at drafted position i,
    /// row γ the one after the whole block.</param>
    /// <param name="uniform">Source of uniform draws in [0, 1).</param>
    /// <param name="scratch">At least V entries.</param>
    public static VerifiedBlock Verify(ReadOnlySpan<int> drafted, ReadOnlySpan<float> draftRows, ReadOnlySpan<float> targetRows,
        Func<double> uniform, Span<float> scratch)
    {
        ArgumentNullException.ThrowIfNull(uniform);
        int vocab = VocabularyOf(drafted.Length, targetRows);
        if (draftRows.Length != drafted.Length * vocab)
            throw new ArgumentException($"draftRows has {draftRows.Length} entries, expected γ·V = {drafted.Length}·{vocab}", nameof(draftRows));
        for (int i = 0; i < drafted.Length; i++)
        {
            var p = targetRows.Slice(i * vocab, vocab);
            var q = draftRows.Slice(i * vocab, vocab);
            if (!Accept(p, q, drafted[i], uniform()))
                return new VerifiedBlock(i, Resample(p, q, uniform(), scratch));
        }
        var last = targetRows.Slice(drafted.Length * vocab, vocab);
        return new VerifiedBlock(drafted.Length, TokenDistribution.Sample(last, uniform()));
    }

    /// <summary>
    /// <see cref="Verify(ReadOnlySpan{int}, ReadOnlySpan{float}, ReadOnlySpan{float}, Func{double}, Span{float})"/>
    /// with the uniforms from <see cref="Random.NextDouble"/> of <paramref name="random"/>.
    /// </summary>
    /// <param name="drafted">The γ drafted tokens.</param>
    /// <param name="draftRows">q rows, row-major [γ, V].</param>
    /// <param name="targetRows">p rows, row-major [γ + 1, V].</param>
    /// <param name="random">Source of the uniform draws; a fixed seed makes the block reproducible.</param>
    /// <param name="scratch">At least V entries.</param>
    public static VerifiedBlock Verify(ReadOnlySpan<int> drafted, ReadOnlySpan<float> draftRows, ReadOnlySpan<float> targetRows,
        Random random, Span<float> scratch)
    {
        ArgumentNullException.ThrowIfNull(random);
        return Verify(drafted, draftRows, targetRows, random.NextDouble, scratch);
    }

    /// <summary>
    /// Greedy verification: accepts the longest prefix of <paramref name="drafted"/> equal to the target's argmax at
    /// each position; the next token is the argmax of the first row that disagreed, or of row γ.
    /// </summary>
    /// <param name="drafted">The γ drafted tokens.</param>
    /// <param name="targetRows">Row-major [γ + 1, V] target logits or probabilities (argmax, ties to the lower
    /// index, is the same for both unless softmax rounding merges two nearly equal logits).</param>
    public static VerifiedBlock VerifyGreedy(ReadOnlySpan<int> drafted, ReadOnlySpan<float> targetRows)
    {
        int vocab = VocabularyOf(drafted.Length, targetRows);
        foreach (int token in drafted)
            if ((uint)token >= (uint)vocab)
                throw new ArgumentOutOfRangeException(nameof(drafted), token, $"a drafted token is outside the vocabulary of {vocab}");
        for (int i = 0; i < drafted.Length; i++)
        {
            int best = TokenDistribution.Argmax(targetRows.Slice(i * vocab, vocab));
            if (drafted[i] != best)
                return new VerifiedBlock(i, best);
        }
        return new VerifiedBlock(drafted.Length, TokenDistribution.Argmax(targetRows.Slice(drafted.Length * vocab, vocab)));
    }

    private static int VocabularyOf(int gamma, ReadOnlySpan<float> targetRows)
    {
        int rows = gamma + 1;
        if (targetRows.IsEmpty || targetRows.Length % rows != 0)
            throw new ArgumentException($"targetRows has {targetRows.Length} entries, not a positive multiple of γ + 1 = {rows}", nameof(targetRows));
        return targetRows.Length / rows;
    }

    private static void CheckPair(ReadOnlySpan<float> p, ReadOnlySpan<float> q)
    {
        if (p.IsEmpty)
            throw new ArgumentException("empty distribution", nameof(p));
        if (q.Length != p.Length)
            throw new ArgumentException($"q has {q.Length} entries, p {p.Length}", nameof(q));
    }

    private static void CheckUniform(double u)
    {
        if (!(u >= 0 && u < 1))
            throw new ArgumentOutOfRangeException(nameof(u), u, "must be in [0, 1)");
    }
}
