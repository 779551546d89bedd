using Caprese.Models;
using Caprese.Models.Adapters;
using Caprese.Models.Sparsity;
using Caprese.Models.Training.EndToEnd;
using Caprese.Models.Transformer;
using Caprese.Oracle.Tests.Reference;

namespace Caprese.Oracle.Tests.Training;

/// <summary>
/// Stage-2 adapter gradients of <see cref="EndToEndGraph"/> (host ops) against torch autograd through the independent
/// float64 <see cref="TorchSparseAdapterModel"/>, with the same weights, adapters and masks (the graph's GRIFFIN
/// selection or its pinned CATS row masks).
/// <para>
/// Tolerance: the graph stores activations in f32 (accumulating in double), the oracle is float64 throughout, so they
/// differ by f32 rounding carried through 2-3 layers and the backward: measured ≤ 4.4e-7 of the largest |g| of each tensor
/// and ≤ 8e-8 relative on the loss (all four cases). 1e-5 and 1e-6 leave a 10-20× margin; a wrong term is a ≥ 1e-2 effect.
/// </para>
/// </summary>
public sealed class EndToEndOracleTests
{
    private const double GradientTolerance = 1e-5;
    private const double LossTolerance = 1e-6;

    public static TheoryData<ModelFamily, SparsityMethod> Cases => new()
    {
        { ModelFamily.Llama, SparsityMethod.Griffin },
        { ModelFamily.Llama, SparsityMethod.Cats },
        { ModelFamily.Qwen2, SparsityMethod.Cats },
        { ModelFamily.Gemma2, SparsityMethod.Griffin },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void GradientsMatchTorchAutograd(ModelFamily family, SparsityMethod method)
    {
        var config = ModelPresets.Tiny(family);
        var weights = SyntheticModel.RandomWeights(config, seed: 41);
        using var loaded = SyntheticModel.FromWeights(config, weights);
        var sparsity = new SparsityOptions(method, 0.5);
        var adapters = AdapterSet.CreateInitial(config, sparsity, rank: 4, seed: 6);
        var rng = new Random(7);
        foreach (var a in adapters.Adapters)
            for (int i = 0; i < a.R.Length; i++)
                a.R[i] = 0.3f * (float)(2 * rng.NextDouble() - 1);
        int[] tokens = [.. Enumerable.Range(0, 13).Select(_ => rng.Next(config.Vocab))];
        var sequence = new EndToEndSequence(tokens, promptLength: 6);

        using var ops = new HostTrainingOps();
        using var graph = new EndToEndGraph(ops, loaded.Context, loaded.Model.Weights, sparsity, adapters.Rank, maxTokens: 16);
        graph.LoadAdapters(adapters);
        var masks = graph.ComputeMasks(sequence);
        double loss = graph.Loss(sequence, masks);
        if (method == SparsityMethod.Cats)
            graph.FreezeRowMasks(masks);
        graph.ZeroGradients();
        graph.AccumulateGradients(sequence, 1f, masks);

        // The same masks as the oracle's [C·H] per layer.
        int rows = sequence.ContinuationLength, h = config.HiddenDim;
        var oracleMasks = new Dictionary<int, float[]>();
        foreach (var a in adapters.Adapters)
        {
            if (method == SparsityMethod.Cats)
            {
                oracleMasks[a.Layer] = masks.RowMasks[a.Layer]!;
                continue;
            }
            var m = new float[rows * h];
            for (int r = 0; r < rows; r++)
                foreach (int j in masks.Kept[a.Layer]!)
                    m[r * h + j] = 1;
            oracleMasks[a.Layer] = m;
        }
        using var oracle = new TorchSparseAdapterModel(Oracle(family), weights);
        var (expectedLoss, expected) = oracle.LossAndGradients(tokens, sequence.PromptLength,
            adapters.Adapters.ToDictionary(a => a.Layer, a => (a.L, a.R)), oracleMasks);

        var output = TestContext.Current.TestOutputHelper;
        double lossErr = Math.Abs(loss - expectedLoss) / expectedLoss;
        output?.WriteLine($"loss {loss:E6} vs oracle {expectedLoss:E6} (rel {lossErr:E2})");
        Assert.True(lossErr <= LossTolerance, $"loss {loss} vs oracle {expectedLoss}");
        foreach (var a in adapters.Adapters)
        {
            var (gl, gr) = graph.DownloadGradients(a.Layer);
            foreach (var (name, actual, reference) in new[] { ("L", gl, expected[a.Layer].L), ("R", gr, expected[a.Layer].R) })
            {
                double scale = reference.Max(Math.Abs);
                Assert.True(scale > 0, $"layer {a.Layer} d{name} is all zero in the oracle");
                double worst = actual.Zip(reference).Max(p => Math.Abs(p.First - p.Second)) / scale;
                output?.WriteLine($"layer {a.Layer} d{name}: max |Δ| {worst:E2} of max |g| {scale:E2}");
                Assert.True(worst <= GradientTolerance, $"layer {a.Layer} d{name}: max |Δ| {worst:E2} of max |g| {scale:E2}");
            }
        }
    }

    // ModelPresets.Tiny(family), described independently for the oracle.
    private static OracleConfig Oracle(ModelFamily family) => family switch
    {
        ModelFamily.Llama => new OracleConfig
        {
            Hidden = 32, Intermediate = 48, Layers = 2, Heads = 4, KvHeads = 2, HeadDim = 8, Vocab = 64, NormEps = 1e-5,
            Rope = RopeLayout.HalfSplit, TiedEmbeddings = false,
            InverseFrequencies = OracleConfig.Llama3Frequencies(8, 10000, 8, 1, 4, 128),
        },
        ModelFamily.Qwen2 => new OracleConfig
        {
            Hidden = 32, Intermediate = 48, Layers = 2, Heads = 4, KvHeads = 2, HeadDim = 8, Vocab = 64, NormEps = 1e-5,
            RopeTheta = 10000, Rope = RopeLayout.HalfSplit, TiedEmbeddings = false, QkvBias = true,
        },
        ModelFamily.Gemma2 => new OracleConfig
        {
            Hidden = 32, Intermediate = 48, Layers = 3, Heads = 4, KvHeads = 2, HeadDim = 12, Vocab = 64, NormEps = 1e-6,
            RopeTheta = 10000, Rope = RopeLayout.HalfSplit, TiedEmbeddings = true, Activation = FfnActivation.GeluTanh,
            EmbeddingScale = Math.Sqrt(32), NormAddsOne = true, SandwichNorms = true, AttentionScale = 1 / Math.Sqrt(12),
            AttentionSoftcap = 50, FinalLogitSoftcap = 30, LayerWindows = [5, 0, 5],
        },
        _ => throw new ArgumentOutOfRangeException(nameof(family)),
    };
}
