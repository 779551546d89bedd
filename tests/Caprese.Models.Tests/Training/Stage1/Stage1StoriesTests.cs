using Caprese.Models.Adapters;
using Caprese.Models.Sparsity;
using Caprese.Models.Tests.Support;
using Caprese.Models.Training.Corpus;
using Caprese.Models.Training.Stage1;

namespace Caprese.Models.Tests.Training.Stage1;

/// <summary>Stage 1 on stories260K: collection, Adam against the closed-form optimum, and the effect on decode quality.</summary>
public sealed class Stage1StoriesTests
{
    private const int Rank = 8;

    [Fact]
    public void CollectedTargetsAreDenseMinusSparseOnTheDenseStream()
    {
        using var loaded = StoriesModel.LoadStories();
        var model = loaded.Model;
        var corpus = Corpus(loaded, count: 4, continuation: 8);
        var zero = Stage1Collector.Collect(model, corpus, SparsityOptions.FirstHalf(SparsityMethod.Griffin, 0, 5), cancellationToken: TestContext.Current.CancellationToken);
        var half = Stage1Collector.Collect(model, corpus, SparsityOptions.FirstHalf(SparsityMethod.Griffin, 0.5, 5), cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal([0, 1], half.Layers.Select(l => l.Layer));
        Assert.All(half.Layers, l => Assert.Equal(corpus.ContinuationTokens, l.Rows));
        for (int i = 0; i < half.Layers.Count; i++)
        {
            // The inputs come from the dense residual stream, whatever the sparsity.
            Assert.Equal(zero.Layers[i].Inputs, half.Layers[i].Inputs);
            // Nothing skipped: the sparse kernel equals the dense FFN up to summation order.
            Assert.True(zero.Layers[i].Targets.Max(Math.Abs) < 1e-5f);
            Assert.True(half.Layers[i].Targets.Max(Math.Abs) > 1e-2f);
        }
        Assert.Equal(SparsityMethod.None, model.Sparsity.Method); // the model's own setting is back
    }

    [Fact]
    public void AdamReachesTheClosedFormOptimum()
    {
        using var loaded = StoriesModel.LoadStories();
        var model = loaded.Model;
        var sparsity = SparsityOptions.FirstHalf(SparsityMethod.Griffin, 0.5, loaded.Config.Layers);
        var data = Stage1Collector.Collect(model, Corpus(loaded, count: 32, continuation: 48), sparsity, cancellationToken: TestContext.Current.CancellationToken);

        // 1536 rows are 12 batches per epoch, so 20 epochs are 240 steps; the paper's lr 1e-3 is meant for ~20K samples
        // (thousands of steps) and gets only within ~12% of the optimum here (measured), so this CI-sized run takes 1e-2.
        var reports = new List<Stage1Progress>();
        var options = new LayerwiseDistillerOptions(Rank: Rank, LearningRate: 1e-2);
        var result = new LayerwiseDistiller(model, options).Train(data, new SynchronousProgress<Stage1Progress>(reports.Add), TestContext.Current.CancellationToken);

        Assert.Equal(data.Layers.Count * options.Epochs, reports.Count);
        foreach (var layer in result.Layers)
        {
            var samples = data.ForLayer(layer.Layer);
            var optimum = ReducedRankRegression.Solve(samples.Inputs, samples.Targets, samples.Dim, Rank);
            TestContext.Current.TestOutputHelper?.WriteLine($"layer {layer.Layer}: sparse {layer.InitialLoss:G4}, Adam {layer.FinalLoss:G4}, optimum {optimum.Loss:G4}, full rank {optimum.FullRankLoss:G4}");
            // Measured on the CPU backend: layer 0 0.02555 vs 0.02530, layer 1 0.03602 vs 0.03597 (within 1%).
            Assert.True(layer.FinalLoss <= 1.05 * optimum.Loss, $"layer {layer.Layer}: Adam {layer.FinalLoss} vs optimum {optimum.Loss}");
            Assert.True(layer.FinalLoss >= optimum.Loss * (1 - 1e-4), $"layer {layer.Layer}: Adam {layer.FinalLoss} below the optimum {optimum.Loss}?");
            Assert.True(layer.FinalLoss < 0.8 * layer.InitialLoss);
            var epochs = reports.Where(r => r.Layer == layer.Layer).ToList();
            Assert.True(epochs[^1].Loss < epochs[0].Loss);
        }
    }

    [Theory]
    [InlineData(SparsityMethod.Griffin)]
    [InlineData(SparsityMethod.Cats)]
    public void Stage1AdaptersReduceHeldOutKl(SparsityMethod method)
    {
        using var loaded = StoriesModel.LoadStories();
        var model = loaded.Model;
        // The paper's settings at 50%: GRIFFIN on the first half of the layers, CATS on all.
        var sparsity = SparsityOptions.Default(method, 0.5, loaded.Config.Layers);
        var data = Stage1Collector.Collect(model, Corpus(loaded, count: 48, continuation: 48), sparsity, cancellationToken: TestContext.Current.CancellationToken);
        var adapters = new LayerwiseDistiller(model, new LayerwiseDistillerOptions(Rank: Rank, LearningRate: 1e-2))
            .Train(data, cancellationToken: TestContext.Current.CancellationToken).Adapters;

        // Held out: fixed text prompts and the dense model's greedy continuations, not the sampled training sequences.
        var prompts = new[] { "Once upon a time", "The little dog", "Tom and Lily went", "One day, a girl" }
            .Select(p => loaded.Tokenizer.Encode(p, addBos: true)).ToList();
        var evaluator = new QualityEvaluator(model, prompts, 40);
        var plain = evaluator.Evaluate(sparsity);
        var repaired = evaluator.Evaluate(sparsity, adapters);
        var unmerged = evaluator.Evaluate(sparsity, adapters, AdapterForm.Unmerged);

        TestContext.Current.TestOutputHelper?.WriteLine($"{method}: KL sparse {plain.MeanKl:G4} (top-1 {plain.Top1Agreement:F3}), sparse + stage 1 {repaired.MeanKl:G4} (top-1 {repaired.Top1Agreement:F3})");
        // Measured on the CPU backend: GRIFFIN 0.85 → 0.38 nats (top-1 agreement 0.65 → 0.81), CATS 0.099 → 0.066 (0.90 → 0.93).
        double bound = method == SparsityMethod.Griffin ? 0.6 : 0.85;
        Assert.True(repaired.MeanKl < bound * plain.MeanKl, $"KL {plain.MeanKl} → {repaired.MeanKl}");
        Assert.Equal(repaired.MeanKl, unmerged.MeanKl, 1e-3);
        Assert.Null(model.Adapters); // the evaluator restores the model's own (none)
    }

    private static DistillationCorpus Corpus(LoadedModel loaded, int count, int continuation) =>
        SyntheticCorpus.Generate(loaded.Model, new SyntheticCorpusOptions(count, PromptTokens: 12, ContinuationTokens: continuation, Seed: 1),
            cancellationToken: TestContext.Current.CancellationToken);
}
