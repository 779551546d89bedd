using Caprese.Models.Transformer;

namespace Caprese.Models.Tests.Transformer;

/// <summary>Llama 3.1 inv_freq table against values worked out here from the published rule.</summary>
public sealed class RopeFrequencyTests
{
    [Fact]
    public void Llama31TableFollowsThePublishedBands()
    {
        // Llama 3.1 8B: head_dim 128, theta 500000, factor 8, low 1, high 4, original context 8192.
        var scaling = new Llama3RopeScaling(8, 1, 4, 8192);
        var table = RopeFrequencies.Llama3(128, 500000, scaling);
        Assert.Equal(64, table.Length);

        int kept = 0, divided = 0, blended = 0;
        for (int i = 0; i < 64; i++)
        {
            double f = 1 / Math.Pow(500000, i / 64.0); // theta^(-2i/128)
            double wavelength = 2 * Math.PI / f;
            double expected;
            if (wavelength < 8192 / 4.0) { expected = f; kept++; }
            else if (wavelength > 8192 / 1.0) { expected = f / 8; divided++; }
            else
            {
                double smooth = (8192 / wavelength - 1) / (4 - 1);
                expected = smooth * f + (1 - smooth) * f / 8;
                blended++;
            }
            Assert.Equal(expected, table[i], expected * 1e-6);
        }
        // All three bands occur for the real model's shape.
        Assert.True(kept > 0 && divided > 0 && blended > 0, $"kept {kept}, divided {divided}, blended {blended}");
        Assert.Equal(1.0f, table[0]);
        Assert.Equal(Math.Pow(500000, -63 / 64.0) / 8, table[63], 1e-12);
    }

    [Fact]
    public void TinyLlamaPresetHitsAllThreeBands()
    {
        var c = ModelPresets.Tiny(ModelFamily.Llama);
        var scaled = RopeFrequencies.For(c)!;
        var plain = RopeFrequencies.Default(c.HeadDim, c.RopeTheta);
        Assert.Equal(plain[0], scaled[0]);                       // short wavelength: kept
        Assert.Equal(plain[^1] / 8, scaled[^1], 1e-9f);          // long wavelength: divided by the factor
        Assert.Contains(scaled.Zip(plain), p => p.First < p.Second && p.First > p.Second / 8); // blended
    }

    [Fact]
    public void NoScalingMeansTheOpsOwnTable()
    {
        Assert.Null(RopeFrequencies.For(ModelPresets.Tiny(ModelFamily.Qwen2)));
    }
}
