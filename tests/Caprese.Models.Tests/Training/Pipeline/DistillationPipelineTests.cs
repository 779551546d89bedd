using Caprese.Models.Sparsity;
using Caprese.Models.Tests.Support;
using Caprese.Models.Training.Corpus;
using Caprese.Models.Training.EndToEnd;
using Caprese.Models.Training.Pipeline;
using Caprese.Models.Training.Stage1;

namespace Caprese.Models.Tests.Training.Pipeline;

/// <summary>The two-stage pipeline on stories260K: checkpoints, resuming, and refusing a checkpoint of other settings.</summary>
public sealed class DistillationPipelineTests
{
    private static DistillationOptions Options(int stage2Epochs) => new(
        SparsityOptions.FirstHalf(SparsityMethod.Griffin, 0.5, 5),
        Rank: 4,
        new LayerwiseDistillerOptions(Epochs: 3, LearningRate: 1e-2, Seed: 3),
        stage2Epochs == 0 ? null : new EndToEndOptions { Epochs = stage2Epochs, BatchSize = 4, LearningRate = 1e-3, Seed = 5 });

    [Fact]
    public void ResumingAfterAnInterruptedStage1GivesTheSameAdaptersAsAnUninterruptedRun()
    {
        using var loaded = StoriesModel.LoadStories();
        var (train, held) = Corpus(loaded);
        using var dir = new TempDirectory();
        var options = Options(stage2Epochs: 1);

        var reference = DistillationPipeline.Run(loaded, train, held, options, "test", null, null, TestContext.Current.CancellationToken);

        // Cancel as soon as layer 0 is done: its checkpoint must survive and the rerun must pick it up.
        var checkpoint = new DistillationCheckpoint(Path.Combine(dir.Path, "ckpt.safetensors"));
        using var cts = new CancellationTokenSource();
        var cancelAfterLayer0 = new SynchronousProgress<DistillationProgress>(p =>
        {
            if (p.Phase == "stage1" && p.Detail.StartsWith("layer 1 ", StringComparison.Ordinal))
                cts.Cancel();
        });
        Assert.ThrowsAny<OperationCanceledException>(() =>
            DistillationPipeline.Run(loaded, train, held, options, "test", checkpoint, cancelAfterLayer0, cts.Token));
        Assert.True(checkpoint.Exists);
        var saved = checkpoint.TryLoad(loaded.Model, options.Fingerprint(4, "test"))!;
        Assert.Equal([0], saved.Stage1LayersDone);
        Assert.Equal(0, saved.Stage2EpochsDone);

        var resumed = DistillationPipeline.Run(loaded, train, held, options, "test", checkpoint, null, TestContext.Current.CancellationToken);
        Assert.True(resumed.Resumed);
        for (int i = 0; i < reference.Adapters.Adapters.Count; i++)
        {
            Assert.Equal(reference.Adapters.Adapters[i].L, resumed.Adapters.Adapters[i].L);
            Assert.Equal(reference.Adapters.Adapters[i].R, resumed.Adapters.Adapters[i].R);
        }
        // The history of the interrupted part was kept: layer 0's epochs come from the first run.
        Assert.Equal(reference.History.Stage1EpochLoss[0], resumed.History.Stage1EpochLoss[0]);
        var final = checkpoint.TryLoad(loaded.Model, options.Fingerprint(4, "test"))!;
        Assert.Equal(1, final.Stage2EpochsDone);
    }

    [Fact]
    public void Stage1ComesCloseToTheOptimumAndStage2LowersTheHeldOutLoss()
    {
        using var loaded = StoriesModel.LoadStories();
        var (train, held) = Corpus(loaded);
        var result = DistillationPipeline.Run(loaded, train, held, Options(stage2Epochs: 2) with
        {
            Stage1 = new LayerwiseDistillerOptions(Epochs: 0, InitFromRrr: true),
        }, "test", null, null, TestContext.Current.CancellationToken);

        foreach (var (layer, optimum) in result.History.Stage1OptimumLoss)
            Assert.True(optimum < result.History.Stage1SparseLoss[layer], $"layer {layer}: optimum {optimum} vs sparse {result.History.Stage1SparseLoss[layer]}");
        var heldOut = result.History.Stage2HeldOutLoss;
        Assert.Equal(0, heldOut[0].Step);
        Assert.True(heldOut[^1].Loss < heldOut[0].Loss, $"held-out stage-2 loss {heldOut[0].Loss} -> {heldOut[^1].Loss}");
    }

    [Fact]
    public void Stage2ImprovesTheHeldOutKlBeyondTheStage1Optimum()
    {
        using var loaded = StoriesModel.LoadStories();
        var corpus = SyntheticCorpus.Generate(loaded.Model, new SyntheticCorpusOptions(64, PromptTokens: 16, ContinuationTokens: 48, Seed: 4),
            cancellationToken: TestContext.Current.CancellationToken).Split(0.1, seed: 1);
        var options = new DistillationOptions(SparsityOptions.FirstHalf(SparsityMethod.Griffin, 0.5, 5), Rank: 8,
            new LayerwiseDistillerOptions(Epochs: 0, InitFromRrr: true),
            new EndToEndOptions { Epochs = 3, BatchSize = 16, LearningRate = 2e-3 });
        var stage1 = DistillationPipeline.Run(loaded, corpus.Train, corpus.HeldOut, options with { Stage2 = null }, "test", null, null, TestContext.Current.CancellationToken);
        var both = DistillationPipeline.Run(loaded, corpus.Train, corpus.HeldOut, options, "test", null, null, TestContext.Current.CancellationToken);

        // Held-out: greedy dense continuations of text prompts, which the sampled training corpus does not contain.
        string[] prompts = ["Once upon a time", "The dog was", "Lily wanted to", "A little bird"];
        var evaluator = new QualityEvaluator(loaded.Model, prompts.Select(p => loaded.Tokenizer.Encode(p, addBos: true)).ToList(), 32);
        double sparse = evaluator.Evaluate(options.Sparsity).MeanKl;
        double afterStage1 = evaluator.Evaluate(options.Sparsity, stage1.Adapters).MeanKl;
        double afterStage2 = evaluator.Evaluate(options.Sparsity, both.Adapters).MeanKl;
        Assert.True(afterStage1 < sparse, $"stage 1: KL {sparse} -> {afterStage1}");
        Assert.True(afterStage2 < afterStage1, $"stage 2 did not improve on the stage-1 optimum: {afterStage1} -> {afterStage2}");
    }

    [Fact]
    public void ACheckpointOfOtherSettingsIsRefusedWithAClearMessage()
    {
        using var loaded = StoriesModel.LoadStories();
        var (train, held) = Corpus(loaded);
        using var dir = new TempDirectory();
        var checkpoint = new DistillationCheckpoint(Path.Combine(dir.Path, "ckpt.safetensors"));
        DistillationPipeline.Run(loaded, train, held, Options(stage2Epochs: 0), "test", checkpoint, null, TestContext.Current.CancellationToken);

        var other = Options(stage2Epochs: 0) with { Rank = 6 };
        var ex = Assert.Throws<InvalidDataException>(() =>
            DistillationPipeline.Run(loaded, train, held, other, "test", checkpoint, null, TestContext.Current.CancellationToken));
        Assert.Contains("checkpoint of other settings", ex.Message);
        Assert.Contains(checkpoint.Path, ex.Message);
    }

    private static (DistillationCorpus Train, DistillationCorpus HeldOut) Corpus(LoadedModel loaded) =>
        SyntheticCorpus.Generate(loaded.Model, new SyntheticCorpusOptions(20, PromptTokens: 12, ContinuationTokens: 24, Seed: 2),
            cancellationToken: TestContext.Current.CancellationToken).Split(0.2, seed: 1);
}
