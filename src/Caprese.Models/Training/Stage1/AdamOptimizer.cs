namespace Caprese.Models.Training.Stage1;

/// <summary>
/// Adam (Kingma and Ba) on one flat f32 parameter array, on the host: moments in double, bias-corrected, the
/// learning rate given per step (the schedule lives with the caller).
/// </summary>
public sealed class AdamOptimizer
{
    private readonly double[] _m;
    private readonly double[] _v;
    private readonly double _beta1, _beta2, _epsilon;

    public AdamOptimizer(int parameters, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(parameters, 1);
        _m = new double[parameters];
        _v = new double[parameters];
        (_beta1, _beta2, _epsilon) = (beta1, beta2, epsilon);
    }

    /// <summary>Steps taken.</summary>
    public int Step { get; private set; }

    /// <summary>parameters -= lr · m̂ / (√v̂ + ε) for the gradient just computed.</summary>
    public void Update(Span<float> parameters, ReadOnlySpan<float> gradient, double learningRate)
    {
        if (parameters.Length != _m.Length || gradient.Length != _m.Length)
            throw new ArgumentException($"expected {_m.Length} parameters and gradients");
        Step++;
        double c1 = 1 - Math.Pow(_beta1, Step), c2 = 1 - Math.Pow(_beta2, Step);
        for (int i = 0; i < _m.Length; i++)
        {
            double g = gradient[i];
            _m[i] = _beta1 * _m[i] + (1 - _beta1) * g;
            _v[i] = _beta2 * _v[i] + (1 - _beta2) * g * g;
            parameters[i] -= (float)(learningRate * (_m[i] / c1) / (Math.Sqrt(_v[i] / c2) + _epsilon));
        }
    }
}
