using Caprese.Models.Adapters;
using Caprese.Models.Sparsity;
using Caprese.Models.Tests.Support;
using Caprese.Models.Training.EndToEnd;
using Caprese.Models.Transformer;

namespace Caprese.Models.Tests.Training.EndToEnd;

/// <summary>
/// The graph's forward against the inference model: its dense hidden states, sent through the classifier, are
/// <see cref="TransformerModel"/>'s teacher-forced logits; at sparsity 0 with R = 0 the student is the teacher.
/// </summary>
public sealed class EndToEndForwardTests
{
    public static TheoryData<ModelFamily> Families => [ModelFamily.Llama, ModelFamily.Qwen2, ModelFamily.Gemma2];

    /// <summary>
    /// Max |Δlogit| / max(1, max |logit|) allowed between classifier(graph hidden) and the inference model's logits.
    /// Both are f32 computations of the same formulas; the host ops accumulate in double, the native kernels in f32
    /// in another order, so they differ by rounding only: measured ≤ 1.2e-6 (synthetic families) and ≤ 6e-7 (stories260K,
    /// logits up to ~20). 2e-5 leaves room for other summation orders; a missing quirk (bias, post-norm, window,
    /// soft-cap) moves logits by ≥ 1e-2.
    /// </summary>
    private const double Tolerance = 2e-5;

    public static TheoryData<ModelFamily, string> FamiliesAndOps()
    {
        var data = new TheoryData<ModelFamily, string>();
        foreach (string ops in new[] { "host", "native" })
            foreach (var f in new[] { ModelFamily.Llama, ModelFamily.Qwen2, ModelFamily.Gemma2 })
                data.Add(f, ops);
        return data;
    }

    [Theory]
    [MemberData(nameof(FamiliesAndOps))]
    public void SyntheticDenseHiddenGivesTheModelsLogits(ModelFamily family, string opsKind)
    {
        var config = ModelPresets.Tiny(family);
        using var loaded = SyntheticModel.Create(config, seed: 31, cancellationToken: TestContext.Current.CancellationToken);
        int[] tokens = [3, 17, 42, 5, 9, 63, 0, 28, 11, 50, 7, 33]; // 12 > the tiny Gemma 2 window of 5
        Compare(loaded, tokens, $"{family} {opsKind}", opsKind);
    }

    [Theory]
    [InlineData("host")]
    [InlineData("native")]
    public void StoriesDenseHiddenGivesTheModelsLogits(string opsKind)
    {
        using var loaded = StoriesModel.LoadStories();
        var tokens = EndToEndTestData.Sampled(loaded, 1, promptLength: 6, length: 40, seed: 8)[0].Tokens;
        Compare(loaded, tokens, $"stories260K {opsKind}", opsKind);
    }

    [Theory]
    [InlineData(SparsityMethod.Griffin, "host")]
    [InlineData(SparsityMethod.Cats, "host")]
    [InlineData(SparsityMethod.Griffin, "native")]
    [InlineData(SparsityMethod.Cats, "native")]
    public void ZeroSparsityWithZeroAdaptersIsTheDenseModel(SparsityMethod method, string opsKind)
    {
        // Sparsity 0 keeps every neuron (GRIFFIN k = H; CATS τ = 0, and |act| ≥ 0 always), and R = 0 adds nothing:
        // the student's continuation rows are computed by the same ops as the teacher's, so the loss vanishes
        // (up to rounding: the student runs its rows as a separate batch).
        using var loaded = StoriesModel.LoadStories();
        var sparsity = new SparsityOptions(method, 0);
        var adapters = AdapterSet.CreateInitial(loaded.Config, sparsity, rank: 4, seed: 1);
        using var ops = EndToEndTestData.Ops(opsKind, loaded);
        using var graph = new EndToEndGraph(ops, loaded.Context, loaded.Model.Weights, sparsity, adapters.Rank, maxTokens: 48);
        graph.LoadAdapters(adapters);
        var sequence = EndToEndTestData.Sampled(loaded, 1, promptLength: 10, length: 40, seed: 2)[0];
        var masks = graph.ComputeMasks(sequence);
        for (int l = 0; l < loaded.Config.Layers; l++)
            if (method == SparsityMethod.Griffin)
                Assert.Equal(loaded.Config.HiddenDim, masks.Kept[l]!.Length);
            else
                Assert.Equal(0f, masks.Thresholds[l]);
        double loss = graph.Loss(sequence, masks);
        TestContext.Current.TestOutputHelper?.WriteLine($"loss {loss:E2}");
        // Host ops: exactly 0 (measured). Native: the CPU matmul may block a 30-row batch differently from a 40-row one.
        Assert.True(loss <= (opsKind == "host" ? 1e-12 : 1e-10), $"loss {loss}");

        // Half sparsity does change the model.
        using var half = new EndToEndGraph(ops, loaded.Context, loaded.Model.Weights, sparsity with { Sparsity = 0.5 }, adapters.Rank, maxTokens: 48);
        half.LoadAdapters(AdapterSet.CreateInitial(loaded.Config, sparsity with { Sparsity = 0.5 }, rank: 4, seed: 1));
        Assert.True(half.Loss(sequence) > 1e-4);
    }

    [Fact]
    public void MasksAreTheInferenceModelsSelection()
    {
        using var loaded = StoriesModel.LoadStories();
        var config = loaded.Config;
        var sequence = EndToEndTestData.Sampled(loaded, 1, promptLength: 12, length: 20, seed: 5)[0];
        var prompt = sequence.Tokens.AsSpan(0, sequence.PromptLength).ToArray();
        using var ops = new HostTrainingOps();
        foreach (var method in new[] { SparsityMethod.Griffin, SparsityMethod.Cats })
        {
            var sparsity = SparsityOptions.Default(method, 0.5, config.Layers);
            using var graph = new EndToEndGraph(ops, loaded.Context, loaded.Model.Weights, sparsity, 2, maxTokens: 20);
            var masks = graph.ComputeMasks(sequence);
            loaded.Model.SetSparsity(sparsity);
            loaded.Model.Prefill(prompt, 0);
            var (first, end) = sparsity.LayerRange(config.Layers);
            for (int l = first; l < end; l++)
                if (method == SparsityMethod.Griffin)
                    Assert.Equal(loaded.Model.SparseDecoder!.SelectedNeurons(l), masks.Kept[l]);
                else
                    Assert.Equal(loaded.Model.SparseDecoder!.Threshold(l), masks.Thresholds[l], 1e-6f);
        }
        loaded.Model.SetSparsity(null);
    }

    private static void Compare(LoadedModel loaded, int[] tokens, string what, string opsKind)
    {
        var c = loaded.Config;
        using var ops = EndToEndTestData.Ops(opsKind, loaded);
        var sparsity = new SparsityOptions(SparsityMethod.Griffin, 0.5);
        using var graph = new EndToEndGraph(ops, loaded.Context, loaded.Model.Weights, sparsity, 1, maxTokens: tokens.Length);
        var hidden = graph.DenseHidden(tokens);

        var classifier = new float[(long)c.Vocab * c.Dim];
        TrainingWeights.ReadF32(loaded.Context, loaded.Model.Weights.Classifier, classifier);
        loaded.Model.SetSparsity(null);
        double worst = 0;
        for (int t = 0; t < tokens.Length; t++)
        {
            var expected = t == 0 ? loaded.Model.Prefill(tokens.AsSpan(0, 1), 0) : loaded.Model.DecodeStep(tokens[t], t);
            double scale = Math.Max(1, expected.Max(Math.Abs));
            for (int v = 0; v < c.Vocab; v++)
            {
                double logit = 0;
                for (int d = 0; d < c.Dim; d++)
                    logit += (double)hidden[t * c.Dim + d] * classifier[v * c.Dim + d];
                if (c.FinalLogitSoftcap > 0)
                    logit = c.FinalLogitSoftcap * Math.Tanh(logit / c.FinalLogitSoftcap);
                worst = Math.Max(worst, Math.Abs(logit - expected[v]) / scale);
            }
        }
        TestContext.Current.TestOutputHelper?.WriteLine($"{what}: scaled max |Δlogit| {worst:E2} over {tokens.Length} rows");
        Assert.True(worst <= Tolerance, $"{what}: scaled max |Δlogit| {worst:E2} exceeds {Tolerance:E0}");
    }
}
