using Caprese.Models;
using Caprese.Models.Formats.HuggingFace;
using Caprese.Oracle.Tests.Reference;
using Caprese.Oracle.Tests.Support;

namespace Caprese.Oracle.Tests.HuggingFace;

/// <summary>
/// Each family as a random-weight, sharded Hugging Face checkpoint written by the test, loaded by
/// the runtime's <see cref="ModelLoader"/> and compared with the float64 TorchSharp oracle:
/// prefill logits of a 12-token prompt, then 3 decode steps.
/// </summary>
public class FamilyOracleTests
{
    public const int PromptLength = 12;
    public const int DecodeSteps = 3;

    /// <summary>
    /// Scaled max error (|Δ| / max(1, max|logit|)) allowed between the runtime's f32 logits and the
    /// float64 oracle on identical f32 weights. f32 rounding (6e-8 relative per operation) grows
    /// with dot-product length (≤ 112 here), depth (≤ 4 layers), the √64 = 8 embedding scale and
    /// soft-capping to a few 1e-7 of the logit scale (measured: ≤ 4.6e-7 over all families and
    /// steps); 1e-5 leaves a 20× margin for summation order and approximate exp/tanh/rsqrt in
    /// vectorised kernels, while dropping any single quirk moves the logits by ≥ 0.2
    /// (<see cref="EachQuirkMovesTheOracleLogits"/>), four orders of magnitude above it.
    /// </summary>
    public const double Tolerance = 1e-5;

    public static TheoryData<string> Cases() => new(FamilyCase.All.Select(c => c.Name));

    [Theory]
    [MemberData(nameof(Cases))]
    public void RuntimeMatchesOracle(string name)
    {
        var c = FamilyCase.All.Single(x => x.Name == name);
        var config = c.ToOracle();
        var weights = RandomCheckpoint.Weights(config, c.Seed, gemmaNorms: c.ModelType == "gemma2");
        using var dir = new TempDirectory(c.Name);
        RandomCheckpoint.Write(dir.Path, c, weights);

        var rng = new Random(c.Seed * 7919);
        var tokens = Enumerable.Range(0, PromptLength + DecodeSteps).Select(_ => rng.Next(3, c.Vocab)).ToArray();
        double[][] expected;
        using (var oracle = new TorchDecoder(config, weights, c.MaxPositions))
            expected = oracle.Logits(tokens);

        using var model = ModelLoader.Load(dir.Path, cancellationToken: TestContext.Current.CancellationToken);
        var prefill = model.Model.Prefill(tokens.AsSpan(0, PromptLength), 0);
        Compare.Logits(prefill, expected[PromptLength - 1], Tolerance, $"{name} prefill");
        for (int s = 0; s < DecodeSteps; s++)
        {
            int pos = PromptLength + s;
            var logits = model.Model.DecodeStep(tokens[pos], pos);
            Compare.Logits(logits, expected[pos], Tolerance, $"{name} decode step {s} (position {pos})");
        }
    }

    /// <summary>The runtime's config.json parser reads our files as the oracle's own description says.</summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void HfConfigAgreesWithTheCaseDescription(string name)
    {
        var c = FamilyCase.All.Single(x => x.Name == name);
        var direct = c.ToOracle();
        var parsed = OracleConfig.FromHf(HfConfig.Parse(c.ConfigJson(), name + "/config.json"));
        Assert.Equal(direct with { InverseFrequencies = null, LayerWindows = null }, parsed with { InverseFrequencies = null, LayerWindows = null });
        Assert.Equal(direct.Frequencies(), parsed.Frequencies());
        Assert.Equal(Enumerable.Range(0, c.Layers).Select(direct.WindowOf), Enumerable.Range(0, c.Layers).Select(parsed.WindowOf));
    }

    /// <summary>
    /// The tolerance only means something if each family's quirks move the logits by far more than
    /// it: dropping any one of them from the oracle must change the logits by more than 1e-2.
    /// </summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void EachQuirkMovesTheOracleLogits(string name)
    {
        var c = FamilyCase.All.Single(x => x.Name == name);
        var config = c.ToOracle();
        var weights = RandomCheckpoint.Weights(config, c.Seed, gemmaNorms: c.ModelType == "gemma2");
        var tokens = Enumerable.Range(3, PromptLength).ToArray();
        double[] Last(OracleConfig cfg, IReadOnlyDictionary<string, float[]>? w = null)
        {
            using var d = new TorchDecoder(cfg, w ?? weights, c.MaxPositions);
            return d.LastLogits(tokens);
        }
        var variants = new List<(string, OracleConfig, IReadOnlyDictionary<string, float[]>?)>
        {
            ("interleaved RoPE pairs", config with { Rope = RopeLayout.InterleavedPairs }, null),
        };
        if (config.InverseFrequencies is not null)
            variants.Add(("unscaled RoPE", config with { InverseFrequencies = null }, null));
        if (config.QkvBias)
            variants.Add(("no q/k/v bias", config with { QkvBias = false }, null));
        if (!config.TiedEmbeddings)
        {
            var tied = new Dictionary<string, float[]>(weights);
            tied.Remove("lm_head.weight");
            variants.Add(("tied lm_head", config with { TiedEmbeddings = true }, tied));
        }
        if (config.LayerWindows is not null)
            variants.Add(("no sliding window", config with { LayerWindows = null }, null));
        if (config.AttentionSoftcap is not null)
            variants.Add(("no attention soft-cap", config with { AttentionSoftcap = null }, null));
        if (config.FinalLogitSoftcap is not null)
            variants.Add(("no final soft-cap", config with { FinalLogitSoftcap = null }, null));
        if (config.AttentionScale is not null)
            variants.Add(("1/sqrt(head_dim) scale", config with { AttentionScale = null }, null));
        if (config.NormAddsOne)
            variants.Add(("w instead of 1+w norms", config with { NormAddsOne = false }, null));
        if (config.EmbeddingScale != 1)
            variants.Add(("no embedding scale", config with { EmbeddingScale = 1 }, null));
        if (config.Activation == FfnActivation.GeluTanh)
            variants.Add(("SiLU", config with { Activation = FfnActivation.Silu }, null));

        var reference = Last(config);
        foreach (var (what, variant, w) in variants)
        {
            double diff = reference.Zip(Last(variant, w), (a, b) => Math.Abs(a - b)).Max();
            TestContext.Current.TestOutputHelper?.WriteLine($"{name}, {what}: logits move by {diff:E2}");
            Assert.True(diff > 1e-2, $"{what}: logits move by only {diff:E2}; the test model does not exercise it");
        }
    }
}
