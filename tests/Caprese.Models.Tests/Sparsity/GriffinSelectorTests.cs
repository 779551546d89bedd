using Caprese.Models.Sparsity;

namespace Caprese.Models.Tests.Sparsity;

/// <summary>GRIFFIN's scores and top-k on host arrays against the definition written out here.</summary>
public sealed class GriffinSelectorTests
{
    [Fact]
    public void ScoresAndTopKMatchTheDefinition()
    {
        const int t = 7, h = 20;
        var rng = new Random(3);
        var z = new float[t * h];
        for (int i = 0; i < z.Length; i++)
            z[i] = (float)(rng.NextDouble() * 4 - 2);
        var selector = new GriffinSelector(h);
        selector.Observe(z.AsSpan(0, 3 * h)); // chunked like a prefill of 3 + 4 rows
        selector.Observe(z.AsSpan(3 * h));

        var expected = new double[h];
        for (int r = 0; r < t; r++)
        {
            double norm = Math.Sqrt(Enumerable.Range(0, h).Sum(j => (double)z[r * h + j] * z[r * h + j]));
            for (int j = 0; j < h; j++)
                expected[j] += Math.Pow(z[r * h + j] / norm, 2);
        }
        var scores = selector.Scores();
        for (int j = 0; j < h; j++)
            Assert.Equal(Math.Sqrt(expected[j]), scores[j], 1e-12);

        int k = GriffinSelector.KeptCount(h, 0.5);
        Assert.Equal(10, k);
        var top = Enumerable.Range(0, h).OrderBy(j => -expected[j]).Take(k).Order().ToArray();
        Assert.Equal(top, selector.Select(k));
    }

    [Fact]
    public void TiesGoToTheLowerIndexAndZeroRowsAreIgnored()
    {
        var selector = new GriffinSelector(4);
        selector.Observe([1f, 2f, 2f, 1f, 0f, 0f, 0f, 0f]);
        Assert.Equal(2, selector.RowCount);
        Assert.Equal([1, 2], selector.Select(2));
        Assert.Equal([0, 1, 2], selector.Select(3));
    }

    [Theory]
    [InlineData(100, 0.0, 100)]
    [InlineData(100, 0.25, 75)]
    [InlineData(5, 0.5, 3)] // 2.5 rounds away from zero
    [InlineData(4, 0.99, 1)] // never fewer than one neuron
    public void KeptCountRounds(int hidden, double sparsity, int expected) =>
        Assert.Equal(expected, GriffinSelector.KeptCount(hidden, sparsity));
}
