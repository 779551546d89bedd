namespace Caprese.Models.Generation;

/// <summary>
/// Picks the next token from logits on the host: greedy at temperature 0, otherwise a draw from
/// softmax(logits / T) restricted to the top-k tokens and then to the smallest set whose
/// probability (renormalised over the top-k tokens) reaches top-p. A fixed seed makes the draws
/// reproducible. <see cref="TextGenerator"/> samples on the backend (caprese_sample); this class
/// is the independent managed reference the native sampler is tested against. It differs only in
/// ties at a cut (here broken by index; the native op keeps every tied token) and in its random
/// stream (System.Random rather than the counter-based generator).
/// </summary>
public sealed class Sampler
{
    private readonly GenerationOptions _options;
    private readonly Random _random;
    private float[] _probs = [];
    private int[] _order = [];

    public Sampler(GenerationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _random = options.Seed is { } seed ? new Random(seed) : new Random();
    }

    public bool IsGreedy => _options.Temperature == 0f;

    public int Sample(ReadOnlySpan<float> logits)
    {
        if (logits.IsEmpty)
            throw new ArgumentException("no logits", nameof(logits));
        if (IsGreedy)
            return Argmax(logits);

        int n = logits.Length;
        if (_probs.Length != n)
        {
            _probs = new float[n];
            _order = new int[n];
        }

        // Softmax with temperature, stabilised by the maximum.
        float max = float.NegativeInfinity;
        foreach (float l in logits)
            max = Math.Max(max, l);
        double sum = 0;
        for (int i = 0; i < n; i++)
        {
            _probs[i] = MathF.Exp((logits[i] - max) / _options.Temperature);
            sum += _probs[i];
        }
        if (!(sum > 0) || double.IsInfinity(sum))
            return Argmax(logits); // NaN or overflowing logits: sampling is meaningless, stay deterministic

        int count = n;
        for (int i = 0; i < n; i++)
            _order[i] = i;
        bool filtered = (_options.TopK > 0 && _options.TopK < n) || _options.TopP < 1f;
        if (filtered)
        {
            var probs = _probs;
            Array.Sort(_order, (a, b) => probs[b].CompareTo(probs[a]) is var c && c != 0 ? c : a.CompareTo(b));
            if (_options.TopK > 0)
                count = Math.Min(count, _options.TopK);
            if (_options.TopP < 1f)
            {
                double topKMass = 0;
                for (int i = 0; i < count; i++)
                    topKMass += probs[_order[i]];
                double cumulative = 0, target = _options.TopP * topKMass;
                for (int i = 0; i < count; i++)
                {
                    cumulative += probs[_order[i]];
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
            kept += _probs[_order[i]];
        double r = _random.NextDouble() * kept;
        for (int i = 0; i < count; i++)
        {
            r -= _probs[_order[i]];
            if (r < 0)
                return _order[i];
        }
        return _order[count - 1]; // rounding left a sliver of probability
    }

    /// <summary>First index of the maximum (NaN never wins).</summary>
    public static int Argmax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
            if (values[i] > values[best] || float.IsNaN(values[best]))
                best = i;
        return best;
    }
}
