using Caprese.Models.Generation;

namespace Caprese.Models.Tests.Generation;

public sealed class SamplerTests
{
    private static readonly float[] Logits = [1f, 3f, 2f, 3f, -1f, 0.5f];

    [Fact]
    public void GreedyPicksTheFirstMaximum()
    {
        Assert.Equal(1, new Sampler(new GenerationOptions()).Sample(Logits));
        Assert.Equal(1, Sampler.Argmax([float.NaN, 2f, 1f]));
    }

    [Fact]
    public void TopKOfOneIsGreedy()
    {
        var sampler = new Sampler(new GenerationOptions(Temperature: 5f, TopK: 1, Seed: 1));
        for (int i = 0; i < 100; i++)
            Assert.Equal(1, sampler.Sample(Logits));
    }

    [Fact]
    public void TinyTopPKeepsOnlyTheMostLikely()
    {
        var sampler = new Sampler(new GenerationOptions(Temperature: 1f, TopP: 0.01f, Seed: 1));
        for (int i = 0; i < 100; i++)
            Assert.Equal(1, sampler.Sample(Logits));
    }

    [Fact]
    public void TopKNeverLeavesTheTopTokens()
    {
        var sampler = new Sampler(new GenerationOptions(Temperature: 10f, TopK: 3, Seed: 5));
        var seen = new HashSet<int>();
        for (int i = 0; i < 2000; i++)
            seen.Add(sampler.Sample(Logits));
        Assert.Equal([1, 2, 3], seen.Order());
    }

    [Fact]
    public void SamplingFollowsTheSoftmax()
    {
        var sampler = new Sampler(new GenerationOptions(Temperature: 1f, Seed: 11));
        float[] logits = [0f, MathF.Log(3f)]; // probabilities 1/4 and 3/4
        int ones = Enumerable.Range(0, 20000).Count(_ => sampler.Sample(logits) == 1);
        Assert.InRange(ones / 20000.0, 0.73, 0.77);
    }

    [Fact]
    public void SameSeedSameDraws()
    {
        var options = new GenerationOptions(Temperature: 1.5f, Seed: 42);
        var a = new Sampler(options);
        var b = new Sampler(options);
        for (int i = 0; i < 50; i++)
            Assert.Equal(a.Sample(Logits), b.Sample(Logits));
    }

    [Theory]
    [InlineData(-1, 0f, 0, 1f)]
    [InlineData(1, -0.5f, 0, 1f)]
    [InlineData(1, float.NaN, 0, 1f)]
    [InlineData(1, 1f, -2, 1f)]
    [InlineData(1, 1f, 0, 0f)]
    [InlineData(1, 1f, 0, 1.5f)]
    public void InvalidOptionsAreRejected(int maxTokens, float temperature, int topK, float topP)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new Sampler(new GenerationOptions(maxTokens, temperature, topK, topP)));
    }
}
