using Caprese.Interop;
using Caprese.Models.Sparsity;

namespace Caprese.Models.Tests.Sparsity;

public sealed class CatsCalibratorTests
{
    [Fact]
    public void ThresholdIsTheLowerEmpiricalQuantileOfActivationMagnitudes()
    {
        const int h = 10;
        var rng = new Random(5);
        var g = new float[4 * h];
        for (int i = 0; i < g.Length; i++)
            g[i] = (float)(rng.NextDouble() * 6 - 3);
        var calibrator = new CatsCalibrator(h, Activation.Silu);
        calibrator.Observe(g);

        var magnitudes = g.Select(v => Math.Abs(v / (1 + Math.Exp(-v)))).Order().ToArray();
        foreach (double s in new[] { 0.25, 0.5, 0.75 })
        {
            float tau = calibrator.Threshold(s);
            Assert.Equal(magnitudes[(int)(s * magnitudes.Length)], tau, 1e-6);
            int below = magnitudes.Count(m => m < tau - 1e-6);
            Assert.True(below <= s * magnitudes.Length, $"{below} of {magnitudes.Length} below τ at {s}");
        }
        Assert.Equal(0f, calibrator.Threshold(0));
    }

    [Fact]
    public void KeepsAtMostMaxRows()
    {
        var calibrator = new CatsCalibrator(2, Activation.GeluTanh);
        calibrator.Observe(new float[2 * (CatsCalibrator.MaxRows + 3)]);
        Assert.Equal(CatsCalibrator.MaxRows, calibrator.RowCount);
    }

    [Fact]
    public void GeluMatchesTheTanhFormula() =>
        Assert.Equal(0.5 * 1.5 * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (1.5 + 0.044715 * 1.5 * 1.5 * 1.5))),
            HostActivation.Apply(Activation.GeluTanh, 1.5f), 1e-6);
}
