using System.Globalization;

namespace Caprese.Models.Decoding.Judge;

/// <summary>
/// The judge of judge decoding: a linear head on the target (dense) model's final hidden state at a drafted token's
/// position. <see cref="Logit"/> is the log-odds that the drafted token is acceptable; decoding keeps a token when the
/// speculative test accepts it or <see cref="Accepts"/> says so. Immutable; the weights apply to raw hidden states.
/// </summary>
public sealed class JudgeHead
{
    private readonly float[] _weights;

    /// <summary>Copies <paramref name="weights"/>; every value and the bias must be finite.</summary>
    /// <exception cref="ArgumentException">No weights, or a weight or the bias is NaN or infinite.</exception>
    public JudgeHead(ReadOnlySpan<float> weights, float bias)
    {
        if (weights.IsEmpty)
            throw new ArgumentException("a judge head needs at least one weight", nameof(weights));
        for (int i = 0; i < weights.Length; i++)
            if (!float.IsFinite(weights[i]))
                throw new ArgumentException($"weight {i} is {weights[i].ToString(CultureInfo.InvariantCulture)} (not finite)", nameof(weights));
        if (!float.IsFinite(bias))
            throw new ArgumentException($"bias is {bias.ToString(CultureInfo.InvariantCulture)} (not finite)", nameof(bias));
        _weights = weights.ToArray();
        Bias = bias;
    }

    /// <summary>The hidden-state dimension the head reads.</summary>
    public int Dim => _weights.Length;

    /// <summary>One weight per hidden-state element (length <see cref="Dim"/>).</summary>
    public ReadOnlyMemory<float> Weights => _weights;

    /// <summary>Added to the dot product.</summary>
    public float Bias { get; }

    /// <summary>
    /// weights · hidden + bias, accumulated in double (a 4096-term float sum would lose the small differences that
    /// decide borderline tokens). A non-finite hidden state gives a non-finite logit.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="hidden"/> does not have <see cref="Dim"/> elements.</exception>
    public float Logit(ReadOnlySpan<float> hidden)
    {
        if (hidden.Length != _weights.Length)
            throw new ArgumentException($"the hidden state has {hidden.Length} elements, the judge head reads {_weights.Length}", nameof(hidden));
        double sum = Bias;
        for (int i = 0; i < _weights.Length; i++)
            sum += (double)_weights[i] * hidden[i];
        return (float)sum;
    }

    /// <summary>sigmoid(<see cref="Logit"/>): the probability that the drafted token is acceptable.</summary>
    /// <exception cref="ArgumentException"><paramref name="hidden"/> does not have <see cref="Dim"/> elements.</exception>
    public float Probability(ReadOnlySpan<float> hidden) => (float)Sigmoid(Logit(hidden));

    /// <summary>Whether <see cref="Probability"/> exceeds <paramref name="threshold"/> (false for a NaN hidden state).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="threshold"/> is not in [0, 1].</exception>
    public bool Accepts(ReadOnlySpan<float> hidden, double threshold)
    {
        if (!(threshold >= 0 && threshold <= 1))
            throw new ArgumentOutOfRangeException(nameof(threshold), threshold, "must be in [0, 1]");
        return Sigmoid(Logit(hidden)) > threshold;
    }

    /// <summary>1 / (1 + e^-x) without overflow: exp is only taken of a non-positive number.</summary>
    public static double Sigmoid(double x)
    {
        if (x >= 0)
            return 1 / (1 + Math.Exp(-x));
        double e = Math.Exp(x);
        return e / (1 + e);
    }
}
