using System.Diagnostics;
using System.Globalization;
using Caprese.Models.Adapters;
using Caprese.Models.Sparsity;
using Caprese.Models.Training.Corpus;
using Caprese.Models.Training.EndToEnd;
using Caprese.Models.Training.Stage1;

namespace Caprese.Models.Training.Pipeline;

/// <summary>The adapters a run produced and how it went.</summary>
public sealed record DistillationResult(AdapterSet Adapters, DistillationHistory History, ModelFingerprint BaseModel, bool Resumed);

/// <summary>
/// Caprese distillation end to end: stage 1 (collect each sparsified layer's FFN inputs and residual targets from the
/// dense model, fit each adapter with Adam, compare with the closed-form optimum), then stage 2 (train all adapters
/// through the whole sparse network on the model's backend). A checkpoint is written after every stage-1 layer and
/// every stage-2 epoch; a run that finds a checkpoint of the same settings continues from it.
/// </summary>
public static class DistillationPipeline
{
    // The closed-form optimum needs a D x D eigen-decomposition on the host; beyond this it costs more than it tells.
    private const int OptimumMaxDim = 1024;

    public static DistillationResult Run(LoadedModel model, DistillationCorpus train, DistillationCorpus heldOut,
        DistillationOptions options, string corpusDescription, DistillationCheckpoint? checkpoint = null,
        IProgress<DistillationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(heldOut);
        ArgumentNullException.ThrowIfNull(options);
        var config = model.Config;
        var sparsity = options.Sparsity;
        sparsity.Validate(config.Layers);
        if (sparsity.Method is not (SparsityMethod.Griffin or SparsityMethod.Cats))
            throw new ArgumentException($"Caprese adapters are trained for GRIFFIN or CATS, not {sparsity.Method}");
        options.Stage1.Validate();
        options.Stage2?.Validate();
        if (options.Stage2 is not null)
            EndToEndGraph.CheckSupported(config, sparsity);
        int rank = options.Rank > 0 ? options.Rank : AdapterSet.DefaultRank(config, sparsity);
        if (rank > config.Dim)
            throw new ArgumentOutOfRangeException(nameof(options), rank, $"rank must be at most the model dimension {config.Dim}");
        string settings = options.Fingerprint(rank, corpusDescription);
        var fingerprint = ModelFingerprint.Compute(model.Model);

        var state = checkpoint?.TryLoad(model.Model, settings);
        var adapters = state?.Adapters ?? AdapterSet.CreateInitial(config, sparsity, rank, options.Stage1.Seed);
        var history = state?.History ?? new DistillationHistory();
        var layersDone = new HashSet<int>(state?.Stage1LayersDone ?? new HashSet<int>());
        int epochsDone = state?.Stage2EpochsDone ?? 0;
        void Save() => checkpoint?.Save(adapters, fingerprint, new DistillationCheckpoint.State(adapters, settings, layersDone, epochsDone, history));

        var (first, end) = sparsity.LayerRange(config.Layers);
        if (Enumerable.Range(first, end - first).Any(l => !layersDone.Contains(l)))
            RunStage1(model, train, options, adapters, history, layersDone, Save, progress, cancellationToken);

        if (options.Stage2 is { } s2 && epochsDone < s2.Epochs)
        {
            var trainSeq = train.Select(s => new EndToEndSequence(s.Tokens, s.Prompt.Length)).ToList();
            var heldSeq = heldOut.Select(s => new EndToEndSequence(s.Tokens, s.Prompt.Length)).ToList();
            int maxTokens = Math.Max(train.MaxLength, heldOut.MaxLength);
            using var ops = new NativeTrainingOps(model.Context);
            using var trainer = new EndToEndTrainer(ops, model.Context, model.Model.Weights, adapters, s2 with { FirstEpoch = epochsDone + 1 }, maxTokens);
            bool fresh = epochsDone == 0;
            var report = new SynchronousProgress<EndToEndProgress>(p =>
            {
                history.Stage2StepLoss.Add(p.Loss);
                if (p.HeldOutLoss is { } h)
                    history.Stage2HeldOutLoss.Add((p.Step, h));
                history.Stage2TokensPerSecond = p.TokensPerSecond;
                progress?.Report(new DistillationProgress("stage2", p.Step, p.TotalSteps, string.Create(CultureInfo.InvariantCulture,
                    $"epoch {p.Epoch}/{s2.Epochs}  loss {p.Loss:F4}{(p.HeldOutLoss is { } ho ? $"  held-out {ho:F4}" : "")}  {p.TokensPerSecond:F0} tok/s")));
            });
            var result = trainer.Train(trainSeq, heldSeq.Count > 0 ? heldSeq : null, report, cancellationToken, epoch =>
            {
                epochsDone = epoch;
                Save();
            });
            if (fresh && result.InitialHeldOutLoss is { } initial)
                history.Stage2HeldOutLoss.Insert(0, (0, initial));
            epochsDone = s2.Epochs;
            Save();
        }
        return new DistillationResult(adapters, history, fingerprint, state is not null);
    }

    private static void RunStage1(LoadedModel model, DistillationCorpus train, DistillationOptions options, AdapterSet adapters,
        DistillationHistory history, HashSet<int> layersDone, Action save, IProgress<DistillationProgress>? progress, CancellationToken ct)
    {
        var sparsity = options.Sparsity;
        var collected = new SynchronousProgress<int>(n => progress?.Report(new DistillationProgress("collect", n, train.Count, "dense teacher-forced pass")));
        var data = Stage1Collector.Collect(model.Model, train, sparsity, collected, ct);
        var distiller = new LayerwiseDistiller(model.Model, options.Stage1 with { Rank = adapters.Rank });
        int epochs = options.Stage1.Epochs, layers = data.Layers.Count, doneUnits = 0;
        var clock = new Stopwatch();
        long rows = 0;
        foreach (var samples in data.Layers)
        {
            int layer = samples.Layer;
            if (layersDone.Contains(layer))
            {
                doneUnits += epochs;
                continue;
            }
            var target = adapters.ForLayer(layer)!;
            if (samples.Dim <= OptimumMaxDim)
                history.Stage1OptimumLoss[layer] = ReducedRankRegression.Solve(samples.Inputs, samples.Targets, samples.Dim, adapters.Rank).Loss;
            var start = options.Stage1.InitFromRrr ? LayerwiseDistiller.FromRrr(samples, adapters.Rank) : target;
            var losses = history.Stage1EpochLoss[layer] = [];
            var report = new SynchronousProgress<Stage1Progress>(p =>
            {
                losses.Add(p.Loss);
                progress?.Report(new DistillationProgress("stage1", doneUnits + p.Epoch, layers * epochs,
                    string.Create(CultureInfo.InvariantCulture, $"layer {p.Layer} epoch {p.Epoch}/{p.Epochs}  mse {p.Loss:E3}")));
            });
            clock.Start();
            var (trained, result) = distiller.TrainLayer(samples, start, report, ct);
            clock.Stop();
            rows += (long)samples.Rows * epochs;
            history.Stage1SparseLoss[layer] = options.Stage1.InitFromRrr
                ? ReducedRankRegression.Loss(samples.Inputs, samples.Targets, samples.Dim, new float[target.L.Length], new float[target.R.Length], adapters.Rank)
                : result.InitialLoss;
            trained.L.CopyTo(target.L, 0);
            trained.R.CopyTo(target.R, 0);
            layersDone.Add(layer);
            doneUnits += epochs;
            if (epochs == 0)
                progress?.Report(new DistillationProgress("stage1", layersDone.Count, layers, $"layer {layer}: closed-form optimum"));
            save();
        }
        // A stage-1 "token" is one continuation token's row in one sparsified layer, once per epoch.
        if (clock.Elapsed > TimeSpan.Zero && rows > 0)
            history.Stage1TokensPerSecond = rows / clock.Elapsed.TotalSeconds;
    }
}
