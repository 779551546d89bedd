using Caprese.Interop;
using Caprese.Models.Generation;
using Caprese.Models.Tests.Support;
using Caprese.Models.Transformer;

namespace Caprese.Models.Tests.Generation;

/// <summary>
/// Sampling on the backend (caprese_sample through <see cref="TransformerModel.PrefillSample"/> and
/// <see cref="TransformerModel.DecodeStepSample"/>) against the managed <see cref="Sampler"/>, which is kept as an
/// independent host-side reference, and the generator's use of it.
/// </summary>
public sealed class NativeSamplingTests
{
    private static readonly int[] Prompt = [3, 17, 42, 5, 9, 63, 0, 28, 11, 50, 7, 33];

    private static LoadedModel Tiny(BackendKind backend = BackendKind.Cpu)
    {
        backend = CudaTestBackend.Resolve(backend); // CUDA: real CUDA, else the CUDA simulator, else skipped
        return SyntheticModel.Create(ModelPresets.Tiny(ModelFamily.Llama), seed: 4, options: new ModelLoadOptions(backend),
            cancellationToken: TestContext.Current.CancellationToken);
    }

    // The temperature is given in units of the logits' standard deviation, so the distribution has both
    // likely and unlikely tokens (what the filters act on) whatever the random model's logit scale.
    [Theory]
    [InlineData(1.0f, 0, 1f)]
    [InlineData(0.7f, 12, 1f)]
    [InlineData(1.0f, 0, 0.8f)]
    [InlineData(1.5f, 20, 0.9f)]
    public void NativeDrawsFollowTheManagedSamplersDistribution(float relativeTemperature, int topK, float topP)
    {
        // Two-sample chi-square test of homogeneity: 6000 native draws (seeds 0..5999, one prefill each) against
        // 6000 draws of the managed Sampler from the same logits. Under the null hypothesis the statistic
        // Σ (a_i - b_i)² / (a_i + b_i) over the tokens either sampler drew is chi-square with (tokens - 1)
        // degrees of freedom; we reject above its 1e-6 upper quantile (Wilson-Hilferty with z = 4.753), so a
        // correct pair of samplers fails for one seed choice in a million. The seeds are fixed: deterministic.
        const int draws = 6000;
        using var loaded = Tiny();
        var model = loaded.Model;
        float[] logits = model.Prefill(Prompt, 0);
        double mean = logits.Average();
        float temperature = relativeTemperature * (float)Math.Sqrt(logits.Sum(l => (l - mean) * (l - mean)) / logits.Length);
        var options = new GenerationOptions(Temperature: temperature, TopK: topK, TopP: topP, Seed: 1234);
        var managed = new Sampler(options);
        var a = new int[model.Config.Vocab];
        var b = new int[model.Config.Vocab];
        for (int s = 0; s < draws; s++)
        {
            a[model.PrefillSample(Prompt, 0, new SamplingParams(temperature, topK, topP, Seed: (ulong)s, Offset: 0))]++;
            b[managed.Sample(logits)]++;
        }

        // The kept set is the same: tokens outside the managed top-k are never drawn natively.
        var order = Enumerable.Range(0, logits.Length).OrderByDescending(i => logits[i]).ToArray();
        if (topK > 0)
            foreach (int i in order.Skip(topK))
                Assert.True(a[i] == 0 && b[i] == 0, $"token {i} is outside the top {topK} but was drawn ({a[i]} native, {b[i]} managed)");

        double chi2 = 0;
        int categories = 0;
        for (int i = 0; i < a.Length; i++)
        {
            if (a[i] + b[i] == 0)
                continue;
            categories++;
            chi2 += (double)(a[i] - b[i]) * (a[i] - b[i]) / (a[i] + b[i]);
        }
        Assert.True(categories >= 3, $"only {categories} tokens drawn: the test distribution is degenerate");
        int df = categories - 1;
        double h = 2.0 / (9 * df);
        double bound = df * Math.Pow(1 - h + 4.753 * Math.Sqrt(h), 3);
        Assert.True(chi2 < bound, $"chi-square {chi2:F1} over {categories} tokens exceeds {bound:F1}");
    }

    [Fact]
    public void SameSeedSameDraw_OtherSeedsDiffer()
    {
        using var loaded = Tiny();
        var model = loaded.Model;
        var p = new SamplingParams(1f, Seed: 99, Offset: 3);
        int first = model.PrefillSample(Prompt, 0, p);
        Assert.Equal(first, model.PrefillSample(Prompt, 0, p));
        var others = Enumerable.Range(0, 40).Select(s => model.PrefillSample(Prompt, 0, p with { Seed = (ulong)s })).Distinct().Count();
        Assert.True(others > 5, $"40 seeds gave only {others} distinct tokens");
        int decoded = model.DecodeStepSample(Prompt[^1], Prompt.Length, p);
        Assert.InRange(decoded, 0, model.Config.Vocab - 1);
    }

    [Fact]
    public void Cuda_SamplesTheSameTokensAsCpu()
    {
        using var gpu = Tiny(BackendKind.Cuda);
        using var cpu = Tiny();
        for (ulong s = 0; s < 50; s++)
        {
            var p = new SamplingParams(0.05f, TopK: 20, TopP: 0.95f, Seed: s, Offset: s * 7);
            Assert.Equal(cpu.Model.PrefillSample(Prompt, 0, p), gpu.Model.PrefillSample(Prompt, 0, p));
        }
    }

    [Fact]
    public void GeneratorSamplesOnTheBackendWithStepCounters()
    {
        // The generator's sampled tokens are exactly PrefillSample at offset 0, then DecodeStepSample at
        // offsets 1, 2, ...: nothing is drawn on the host.
        using var loaded = StoriesModel.LoadStories();
        var options = new GenerationOptions(MaxTokens: 12, Temperature: 0.8f, TopK: 30, TopP: 0.9f, Seed: 5);
        var result = loaded.Generator.Generate("Lily and Tom", options, TestContext.Current.CancellationToken);

        int[] prompt = loaded.Tokenizer.Encode("Lily and Tom", addBos: true);
        var p = new SamplingParams(0.8f, 30, 0.9f, Seed: 5, Offset: 0);
        var expected = new List<int> { loaded.Model.PrefillSample(prompt, 0, p) };
        for (int step = 1; expected.Count < result.GeneratedTokens.Count; step++)
            expected.Add(loaded.Model.DecodeStepSample(expected[^1], prompt.Length + step - 1, p with { Offset = (ulong)step }));
        Assert.Equal(expected, result.GeneratedTokens);

        var again = loaded.Generator.Generate("Lily and Tom", options, TestContext.Current.CancellationToken);
        Assert.Equal(result.GeneratedTokens, again.GeneratedTokens);
        var other = loaded.Generator.Generate("Lily and Tom", options with { Seed = 6 }, TestContext.Current.CancellationToken);
        Assert.NotEqual(result.GeneratedTokens, other.GeneratedTokens);
    }
}
