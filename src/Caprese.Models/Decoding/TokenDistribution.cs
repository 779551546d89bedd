using System.Buffers;

namespace Caprese.Models.Decoding;

/// <summary>
/// The next-token distribution the project's samplers draw from, as explicit probabilities: speculative decoding
/// needs the target's and the draft's whole distributions (not just one draw) to accept or resample a token.
/// </summary>
/// <remarks>
/// <see cref="FromLogits"/> follows the rule of the managed reference sampler (Sampler, in
/// tests/Caprese.Models.TestSupport): softmax(logits / T), restricted to the k most likely tokens (top-k), then to
/// the smallest prefix of those, in descending probability, whose mass reaches top-p times the top-k mass, and
/// renormalised over what is kept. Ties in the ordering go to the lower index, so a cut through tied tokens keeps the
/// lower indices. Temperature 0 is greedy: one-hot on the first maximum. Non-finite logits that make sampling
/// meaningless (NaN, all −∞, +∞) give the same one-hot as the sampler's deterministic fallback.
/// The sampler evaluates exp in single precision and this class in double; the two agree to float rounding, and only
/// logits whose single-precision exps collide (differing by about one ulp of the probability) could be ordered
/// differently at a cut.
/// </remarks>
public static class TokenDistribution
{
    /// <summary>
    /// Writes into <paramref name="probs"/> the distribution a sampler with these settings draws from
    /// <paramref name="logits"/>: non-negative, zero outside the kept set, summing to 1 (up to float rounding).
    /// </summary>
    /// <param name="logits">One row of logits over the vocabulary.</param>
    /// <param name="temperature">Softmax temperature, finite and ≥ 0; 0 = greedy (one-hot argmax).</param>
    /// <param name="topK">Keep the k most likely tokens; 0 (or ≥ the vocabulary) = all.</param>
    /// <param name="topP">Nucleus mass in (0, 1]; 1 = off.</param>
    /// <param name="probs">Output, the same length as <paramref name="logits"/>.</param>
    /// <exception cref="ArgumentException"><paramref name="logits"/> is empty or the lengths differ.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of the range <see cref="Generation.GenerationOptions"/> allows.</exception>
    public static void FromLogits(ReadOnlySpan<float> logits, float temperature, int topK, float topP, Span<float> probs)
    {
        if (logits.IsEmpty)
            throw new ArgumentException("no logits", nameof(logits));
        if (probs.Length != logits.Length)
            throw new ArgumentException($"probs has {probs.Length} entries for {logits.Length} logits", nameof(probs));
        if (!(temperature >= 0f) || float.IsInfinity(temperature))
            throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "must be a finite value >= 0");
        ArgumentOutOfRangeException.ThrowIfNegative(topK);
        if (!(topP > 0f && topP <= 1f))
            throw new ArgumentOutOfRangeException(nameof(topP), topP, "must be in (0, 1] (1 = off)");

        if (temperature == 0f)
        {
            OneHot(Argmax(logits), probs);
            return;
        }

        int n = logits.Length;
        float max = float.NegativeInfinity;
        foreach (float l in logits)
            max = Math.Max(max, l); // NaN propagates, as in the sampler
        // Pooled: a 128K vocabulary would otherwise allocate 1.5 MB per call.
        var weights = ArrayPool<double>.Shared.Rent(n);
        var order = ArrayPool<int>.Shared.Rent(n);
        try
        {
            Fill(logits, max, temperature, topK, topP, weights, order, probs);
        }
        finally
        {
            ArrayPool<double>.Shared.Return(weights);
            ArrayPool<int>.Shared.Return(order);
        }
    }

    private static void Fill(ReadOnlySpan<float> logits, float max, float temperature, int topK, float topP,
        double[] weights, int[] order, Span<float> probs)
    {
        int n = logits.Length;
        double sum = 0;
        for (int i = 0; i < n; i++)
        {
            // The difference in float (as the sampler forms it), the scaling and exp in double.
            weights[i] = Math.Exp((double)(logits[i] - max) / temperature);
            sum += weights[i];
        }
        if (!(sum > 0) || double.IsInfinity(sum))
        {
            OneHot(Argmax(logits), probs); // the sampler's deterministic fallback
            return;
        }

        for (int i = 0; i < n; i++)
            order[i] = i;
        int count = n;
        if ((topK > 0 && topK < n) || topP < 1f)
        {
            // Descending probability, ties to the lower index (the sampler's order).
            order.AsSpan(0, n).Sort((a, b) => weights[b].CompareTo(weights[a]) is var c && c != 0 ? c : a.CompareTo(b));
            if (topK > 0)
                count = Math.Min(count, topK);
            if (topP < 1f)
            {
                double topKMass = 0;
                for (int i = 0; i < count; i++)
                    topKMass += weights[order[i]];
                double cumulative = 0, target = topP * topKMass;
                for (int i = 0; i < count; i++)
                {
                    cumulative += weights[order[i]];
                    if (cumulative >= target)
                    {
                        count = i + 1;
                        break;
                    }
                }
            }
        }

        double kept = 0;
        for (int i = 0; i < count; i++)
            kept += weights[order[i]];
        probs.Clear();
        for (int i = 0; i < count; i++)
            probs[order[i]] = (float)(weights[order[i]] / kept);
    }

    /// <summary>
    /// Inverse-CDF draw: the first token whose cumulative probability exceeds <paramref name="u"/> times the total
    /// mass. Only positive entries count (zero, negative and NaN entries are never returned), and the total is taken
    /// from the span itself, so an unnormalised or slightly rounded distribution is fine.
    /// </summary>
    /// <param name="probs">Non-negative weights, at least one positive.</param>
    /// <param name="u">A uniform draw in [0, 1).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="u"/> is outside [0, 1).</exception>
    /// <exception cref="ArgumentException">No entry is positive.</exception>
    public static int Sample(ReadOnlySpan<float> probs, double u)
    {
        if (!(u >= 0 && u < 1))
            throw new ArgumentOutOfRangeException(nameof(u), u, "must be in [0, 1)");
        double total = 0;
        int last = -1;
        for (int i = 0; i < probs.Length; i++)
            if (probs[i] > 0)
            {
                total += probs[i];
                last = i;
            }
        if (last < 0)
            throw new ArgumentException("no token has positive probability", nameof(probs));

        double r = u * total;
        for (int i = 0; i < last; i++)
            if (probs[i] > 0)
            {
                r -= probs[i];
                if (r < 0)
                    return i;
            }
        return last; // also where rounding left a sliver of r after the second-to-last positive entry
    }

    /// <summary>First index of the maximum; NaN never wins (the sampler's greedy rule).</summary>
    /// <exception cref="ArgumentException"><paramref name="values"/> is empty.</exception>
    public static int Argmax(ReadOnlySpan<float> values)
    {
        if (values.IsEmpty)
            throw new ArgumentException("no values", nameof(values));
        int best = 0;
        for (int i = 1; i < values.Length; i++)
            if (values[i] > values[best] || float.IsNaN(values[best]))
                best = i;
        return best;
    }

    private static void OneHot(int index, Span<float> probs)
    {
        probs.Clear();
        probs[index] = 1f;
    }

    /// <summary>log softmax(logits)[token] at temperature 1, in double (the model's own probability of a token).</summary>
    public static double LogProbability(ReadOnlySpan<float> logits, int token)
    {
        if ((uint)token >= (uint)logits.Length)
            throw new ArgumentOutOfRangeException(nameof(token), token, $"token outside 0..{logits.Length - 1}");
        double max = double.NegativeInfinity;
        foreach (float l in logits)
            max = Math.Max(max, l);
        double z = 0;
        foreach (float l in logits)
            z += Math.Exp(l - max);
        return logits[token] - max - Math.Log(z);
    }
}
