using Caprese.Models.Decoding;
using Caprese.Models.Generation;

namespace Caprese.Models.Tests.Decoding;

public sealed class TokenDistributionTests
{
    private static readonly float[] Logits = [1f, 3f, 2f, 3f, -1f, 0.5f];

    private static float[] Distribution(ReadOnlySpan<float> logits, float temperature, int topK = 0, float topP = 1f)
    {
        var probs = new float[logits.Length];
        TokenDistribution.FromLogits(logits, temperature, topK, topP, probs);
        return probs;
    }

    // ln of the given weights: softmax at T = 1 gives back the weights normalised.
    private static float[] LogOf(params double[] weights) => weights.Select(w => (float)Math.Log(w)).ToArray();

    [Fact]
    public void TemperatureZeroIsOneHotOnTheFirstMaximum()
    {
        Assert.Equal([0f, 1f, 0f, 0f, 0f, 0f], Distribution(Logits, 0f));
        Assert.Equal([0f, 1f, 0f], Distribution([float.NaN, 2f, 1f], 0f));
        Assert.Equal(1, TokenDistribution.Argmax(Logits));
    }

    [Fact]
    public void UnfilteredIsTheSoftmaxOfLogitsOverTemperature()
    {
        var probs = Distribution(LogOf(1, 3), 1f);
        Assert.Equal(0.25f, probs[0], 1e-6f);
        Assert.Equal(0.75f, probs[1], 1e-6f);

        // T = 2 halves the logits: weights 1 and sqrt(9) = 3 from ln 1 and ln 9.
        probs = Distribution(LogOf(1, 9), 2f);
        Assert.Equal(0.25f, probs[0], 1e-6f);
        Assert.Equal(0.75f, probs[1], 1e-6f);
    }

    [Fact]
    public void TopKKeepsTheMostLikelyAndBreaksTiesByIndex()
    {
        // Tokens 1 and 3 tie for the top; a cut between them keeps the lower index.
        Assert.Equal([0f, 1f, 0f, 0f, 0f, 0f], Distribution(Logits, 5f, topK: 1));
        var two = Distribution(Logits, 1f, topK: 2);
        Assert.Equal([0f, 0.5f, 0f, 0.5f, 0f, 0f], two);
        var three = Distribution(Logits, 1f, topK: 3);
        double e = Math.E; // weights e^0 (token 2), e^1 (tokens 1, 3) after subtracting the max
        Assert.Equal(e / (2 * e + 1), three[1], 1e-6);
        Assert.Equal(1 / (2 * e + 1), three[2], 1e-6);
        Assert.Equal(0f, three[0]);
    }

    [Fact]
    public void TopPIsTheSmallestPrefixReachingTheFractionOfTheTopKMass()
    {
        float[] logits = LogOf(0.4, 0.3, 0.2, 0.1);
        // 0.4 < 0.65, 0.4 + 0.3 ≥ 0.65: tokens 0 and 1, renormalised.
        var probs = Distribution(logits, 1f, topP: 0.65f);
        Assert.Equal(4f / 7, probs[0], 1e-6f);
        Assert.Equal(3f / 7, probs[1], 1e-6f);
        Assert.Equal(0f, probs[2]);

        // Over the top 2 (mass 0.7) half is 0.35: token 0 alone reaches it. Over the top 3 (0.9) the target is 0.45.
        Assert.Equal([1f, 0f, 0f, 0f], Distribution(logits, 1f, topK: 2, topP: 0.5f));
        probs = Distribution(logits, 1f, topK: 3, topP: 0.5f);
        Assert.Equal(4f / 7, probs[0], 1e-6f);
        Assert.Equal(3f / 7, probs[1], 1e-6f);

        Assert.Equal([1f, 0f, 0f, 0f], Distribution(logits, 1f, topP: 0.01f));
    }

    [Fact]
    public void NonFiniteLogitsFallBackToTheArgmaxLikeTheSampler()
    {
        Assert.Equal([0f, 1f, 0f], Distribution([1f, float.PositiveInfinity, 2f], 1f));
        Assert.Equal([1f, 0f], Distribution([float.NegativeInfinity, float.NegativeInfinity], 1f));
        var withNaN = Distribution([0.5f, float.NaN, 2f], 1f);
        Assert.Equal(1f, withNaN.Sum());
    }

    [Theory]
    [InlineData(1f, 0, 1f)]
    [InlineData(0.7f, 0, 1f)]
    [InlineData(1.5f, 4, 1f)]
    [InlineData(1f, 0, 0.8f)]
    [InlineData(0.8f, 6, 0.9f)]
    [InlineData(2f, 3, 0.5f)]
    public void AgreesWithTheReferenceSamplersDraws(float temperature, int topK, float topP)
    {
        // Random logits over 10 tokens; the managed Sampler's frequencies over 40k draws must fit the distribution.
        var rng = new Random(1234 + topK);
        float[] logits = Enumerable.Range(0, 10).Select(_ => (float)(rng.NextDouble() * 3 - 1.5)).ToArray();
        var probs = Distribution(logits, temperature, topK, topP);

        const int draws = 40_000;
        var sampler = new Sampler(new GenerationOptions(Temperature: temperature, TopK: topK, TopP: topP, Seed: 99));
        var counts = new long[logits.Length];
        for (int i = 0; i < draws; i++)
            counts[sampler.Sample(logits)]++;
        Assert.True(ChiSquare.Fits(counts, ChiSquare.ToDouble(probs), out var report), report);
        Assert.Equal(1.0, probs.Sum(p => (double)p), 1e-6);
    }

    [Fact]
    public void TheSamplerFrequencyTestRejectsAWrongDistribution()
    {
        // Power check: the same kind of draws against a slightly wrong distribution (temperature 1.2 instead of 1,
        // no token excluded) must fail, so passing above means something.
        var rng = new Random(1234);
        float[] logits = Enumerable.Range(0, 10).Select(_ => (float)(rng.NextDouble() * 3 - 1.5)).ToArray();
        var sampler = new Sampler(new GenerationOptions(Temperature: 1f, Seed: 99));
        var counts = new long[logits.Length];
        for (int i = 0; i < 40_000; i++)
            counts[sampler.Sample(logits)]++;
        Assert.True(ChiSquare.Fits(counts, ChiSquare.ToDouble(Distribution(logits, 1f)), out var report), report);
        Assert.False(ChiSquare.Fits(counts, ChiSquare.ToDouble(Distribution(logits, 1.2f)), out report), report);
    }

    [Fact]
    public void SampleIsTheInverseCdfAndNeverReturnsAZeroProbabilityToken()
    {
        float[] probs = [0f, 0.3f, 0f, 0.7f, 0f];
        Assert.Equal(1, TokenDistribution.Sample(probs, 0.0));
        Assert.Equal(1, TokenDistribution.Sample(probs, 0.29));
        Assert.Equal(3, TokenDistribution.Sample(probs, 0.31));
        Assert.Equal(3, TokenDistribution.Sample(probs, Math.BitDecrement(1.0)));

        // Mass short of 1 by rounding (or unnormalised) is scaled, not spilled onto the trailing zero.
        Assert.Equal(1, TokenDistribution.Sample([0.25f, 0.25f, 0f], Math.BitDecrement(1.0)));
        Assert.Equal(0, TokenDistribution.Sample([2f, 2f], 0.49));
        Assert.Equal(1, TokenDistribution.Sample([float.NaN, 1f, -1f], 0.99));
    }

    [Fact]
    public void SampleFrequenciesFollowTheDistribution()
    {
        float[] probs = [0.05f, 0f, 0.3f, 0.15f, 0.5f];
        var rng = new Random(7);
        var counts = new long[probs.Length];
        for (int i = 0; i < 100_000; i++)
            counts[TokenDistribution.Sample(probs, rng.NextDouble())]++;
        Assert.True(ChiSquare.Fits(counts, ChiSquare.ToDouble(probs), out var report), report);
    }

    [Fact]
    public void InvalidArgumentsAreRejected()
    {
        var probs = new float[Logits.Length];
        Assert.Throws<ArgumentException>(() => TokenDistribution.FromLogits([], 1f, 0, 1f, []));
        Assert.Throws<ArgumentException>(() => TokenDistribution.FromLogits(Logits, 1f, 0, 1f, new float[3]));
        Assert.Throws<ArgumentOutOfRangeException>(() => TokenDistribution.FromLogits(Logits, -1f, 0, 1f, probs));
        Assert.Throws<ArgumentOutOfRangeException>(() => TokenDistribution.FromLogits(Logits, float.NaN, 0, 1f, probs));
        Assert.Throws<ArgumentOutOfRangeException>(() => TokenDistribution.FromLogits(Logits, 1f, -1, 1f, probs));
        Assert.Throws<ArgumentOutOfRangeException>(() => TokenDistribution.FromLogits(Logits, 1f, 0, 0f, probs));
        Assert.Throws<ArgumentOutOfRangeException>(() => TokenDistribution.FromLogits(Logits, 1f, 0, 1.5f, probs));
        Assert.Throws<ArgumentOutOfRangeException>(() => TokenDistribution.Sample([1f], 1.0));
        Assert.Throws<ArgumentOutOfRangeException>(() => TokenDistribution.Sample([1f], -0.1));
        Assert.Throws<ArgumentException>(() => TokenDistribution.Sample([0f, 0f], 0.5));
        Assert.Throws<ArgumentException>(() => TokenDistribution.Argmax([]));
    }
}
