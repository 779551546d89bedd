using System.Diagnostics;
using Caprese.Interop;
using Caprese.Models.Adapters;
using Caprese.Models.Transformer;

namespace Caprese.Models.Training.EndToEnd;

/// <summary>Stage-2 hyper-parameters (the paper: lr 4e-6 .. 2e-4, batch 16, 3 epochs, Adam, linear schedule).</summary>
public sealed record EndToEndOptions
{
    /// <summary>Peak learning rate.</summary>
    public double LearningRate { get; init; } = 1e-4;

    /// <summary>Sequences per optimiser step; the step's loss is the mean of their losses.</summary>
    public int BatchSize { get; init; } = 16;

    public int Epochs { get; init; } = 3;

    /// <summary>Fraction of the steps over which the rate rises linearly to its peak; it then falls linearly towards 0.</summary>
    public double WarmupFraction { get; init; } = 0.02;

    public float Beta1 { get; init; } = 0.9f;
    public float Beta2 { get; init; } = 0.999f;
    public float Epsilon { get; init; } = 1e-8f;

    /// <summary>Decoupled (AdamW) weight decay; 0 = plain Adam.</summary>
    public float WeightDecay { get; init; }

    /// <summary>Seed of the per-epoch shuffle.</summary>
    public int Seed { get; init; }

    public bool Shuffle { get; init; } = true;

    /// <summary>Held-out evaluation every this many steps; 0 = at the end of each epoch.</summary>
    public int EvaluateEvery { get; init; }

    /// <summary>Stop after this many steps (the schedule is laid out for it); null = all epochs.</summary>
    public int? MaxSteps { get; init; }

    /// <summary>
    /// 1-based epoch to start at when resuming: earlier epochs are skipped but their shuffles replayed and their steps
    /// counted, so the order and the learning-rate schedule continue where a checkpoint left off (Adam's moments
    /// restart from zero).
    /// </summary>
    public int FirstEpoch { get; init; } = 1;

    public void Validate()
    {
        if (!(LearningRate >= 0 && double.IsFinite(LearningRate)))
            throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "must be finite and >= 0");
        ArgumentOutOfRangeException.ThrowIfLessThan(BatchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(Epochs, 1);
        if (!(WarmupFraction >= 0 && WarmupFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(WarmupFraction), WarmupFraction, "must be in [0, 1)");
        if (!(Beta1 >= 0 && Beta1 < 1) || !(Beta2 >= 0 && Beta2 < 1) || !(Epsilon > 0) || !(WeightDecay >= 0))
            throw new ArgumentOutOfRangeException(nameof(Beta1), "Adam needs beta1, beta2 in [0, 1), eps > 0, weight decay >= 0");
        ArgumentOutOfRangeException.ThrowIfNegative(EvaluateEvery);
        if (MaxSteps is < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxSteps), MaxSteps, "must be >= 1");
        if (FirstEpoch < 1 || FirstEpoch > Epochs + 1)
            throw new ArgumentOutOfRangeException(nameof(FirstEpoch), FirstEpoch, $"must be in 1..{Epochs + 1}");
    }
}

/// <summary>Reported after every optimiser step.</summary>
/// <param name="Step">1-based step.</param>
/// <param name="TotalSteps">Steps the run takes.</param>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="Loss">Mean stage-2 loss of the step's batch (before the update).</param>
/// <param name="LearningRate">The rate of this step.</param>
/// <param name="HeldOutLoss">Set on the steps where the held-out set was evaluated (after the update).</param>
/// <param name="Tokens">Training tokens so far.</param>
/// <param name="TokensPerSecond">Training tokens (prompt + continuation) per second so far, evaluation excluded.</param>
public readonly record struct EndToEndProgress(int Step, int TotalSteps, int Epoch, double Loss, double LearningRate, double? HeldOutLoss,
    long Tokens, double TokensPerSecond);

/// <param name="Steps">Optimiser steps taken.</param>
/// <param name="Tokens">Tokens pushed through training steps (prompt + continuation).</param>
/// <param name="ContinuationTokens">Tokens the loss covered.</param>
/// <param name="TrainingTime">Time in training steps (evaluation excluded).</param>
/// <param name="InitialHeldOutLoss">Held-out loss before the first step (null without a held-out set).</param>
/// <param name="FinalHeldOutLoss">Held-out loss after the last step.</param>
/// <param name="StepLosses">Batch loss of every step.</param>
public sealed record EndToEndResult(int Steps, long Tokens, long ContinuationTokens, TimeSpan TrainingTime,
    double? InitialHeldOutLoss, double? FinalHeldOutLoss, IReadOnlyList<double> StepLosses)
{
    public double TokensPerSecond => TrainingTime > TimeSpan.Zero ? Tokens / TrainingTime.TotalSeconds : 0;
}

/// <summary>
/// Stage 2 of Caprese: trains every adapter of an <see cref="AdapterSet"/> (e.g. from stage 1) end to end through the
/// whole sparse network with Adam on a linear warm-up / decay schedule, base weights frozen, and writes the result
/// back into the set's arrays (after each epoch and at the end). The ops decide where it runs (<see cref="NativeTrainingOps"/>,
/// or the managed reference HostTrainingOps in the tests); the trainer does not own them.
/// </summary>
public sealed class EndToEndTrainer : IDisposable
{
    private readonly AdapterSet _adapters;

    /// <param name="ops">Where the graph runs.</param>
    /// <param name="model">The frozen base model.</param>
    /// <param name="adapters">Adapters of the sparsity to repair; updated in place.</param>
    /// <param name="options">Hyper-parameters; null = defaults.</param>
    /// <param name="maxTokens">Longest sequence to train or evaluate; 0 = the model's MaxSeqLen.</param>
    public EndToEndTrainer(ITrainingOps ops, LoadedModel model, AdapterSet adapters, EndToEndOptions? options = null, int maxTokens = 0)
        : this(ops, (model ?? throw new ArgumentNullException(nameof(model))).Context, model.Model.Weights, adapters, options, maxTokens)
    {
    }

    public EndToEndTrainer(ITrainingOps ops, CapreseContext source, ModelWeights weights, AdapterSet adapters, EndToEndOptions? options = null, int maxTokens = 0)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(adapters);
        Options = options ?? new EndToEndOptions();
        Options.Validate();
        _adapters = adapters;
        Graph = new EndToEndGraph(ops, source, weights, adapters.Sparsity, adapters.Rank, maxTokens == 0 ? weights.Config.MaxSeqLen : maxTokens);
        try
        {
            Graph.LoadAdapters(adapters);
        }
        catch
        {
            Graph.Dispose();
            throw;
        }
    }

    public EndToEndOptions Options { get; }
    public EndToEndGraph Graph { get; }
    public ModelConfig Config => Graph.Config;

    /// <summary>Steps <see cref="Train"/> takes for <paramref name="sequences"/> training sequences.</summary>
    public int TotalSteps(int sequences)
    {
        int perEpoch = (sequences + Options.BatchSize - 1) / Options.BatchSize;
        long total = (long)perEpoch * Options.Epochs;
        return (int)Math.Min(total, Options.MaxSteps ?? int.MaxValue);
    }

    /// <summary>The rate of 1-based <paramref name="step"/> of <paramref name="totalSteps"/>: linear warm-up over
    /// W = round(fraction · total) steps to <paramref name="peak"/> (step s ≤ W: peak·s/W), then linear decay from the peak
    /// at step W + 1 to peak/(total - W) at the last step (it would reach 0 one step later).</summary>
    public static double LearningRateAt(int step, int totalSteps, double peak, double warmupFraction)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(step, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(step, totalSteps);
        int warmup = (int)Math.Round(warmupFraction * totalSteps);
        if (step <= warmup)
            return peak * step / warmup;
        return peak * (totalSteps - step + 1) / (totalSteps - warmup);
    }

    /// <summary>Mean stage-2 loss of <paramref name="sequences"/> with the current adapters (no update).</summary>
    public double Evaluate(IReadOnlyList<EndToEndSequence> sequences, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        if (sequences.Count == 0)
            throw new ArgumentException("nothing to evaluate", nameof(sequences));
        double sum = 0;
        foreach (var s in sequences)
        {
            cancellationToken.ThrowIfCancellationRequested();
            sum += Graph.Loss(s);
        }
        return sum / sequences.Count;
    }

    /// <summary>
    /// Trains on <paramref name="training"/> (shuffled per epoch unless disabled) and evaluates <paramref name="heldOut"/>
    /// before training, on the <see cref="EndToEndOptions.EvaluateEvery"/> schedule and at the end. The adapters are
    /// written back after each epoch, at the end, and when cancelled; <paramref name="epochCompleted"/> then runs with the
    /// 1-based epoch (the moment to write a checkpoint).
    /// </summary>
    public EndToEndResult Train(IReadOnlyList<EndToEndSequence> training, IReadOnlyList<EndToEndSequence>? heldOut = null,
        IProgress<EndToEndProgress>? progress = null, CancellationToken cancellationToken = default, Action<int>? epochCompleted = null)
    {
        ArgumentNullException.ThrowIfNull(training);
        if (training.Count == 0)
            throw new ArgumentException("no training sequences", nameof(training));
        if (heldOut is { Count: 0 })
            heldOut = null;
        var o = Options;
        int total = TotalSteps(training.Count);
        var rng = new Random(o.Seed);
        var order = Enumerable.Range(0, training.Count).ToArray();
        var losses = new List<double>(total);
        var clock = new Stopwatch();
        long tokens = 0, continuation = 0;
        double? initial = heldOut is null ? null : Evaluate(heldOut, cancellationToken);
        double? last = initial;
        int step = 0;
        Graph.ResetOptimizer();
        try
        {
            for (int epoch = 1; epoch <= o.Epochs && step < total; epoch++)
            {
                if (o.Shuffle)
                    rng.Shuffle(order);
                if (epoch < o.FirstEpoch)
                {
                    // Resuming: this epoch is already in the adapters; keep the schedule where it was.
                    step = Math.Min(total, step + (order.Length + o.BatchSize - 1) / o.BatchSize);
                    continue;
                }
                for (int start = 0; start < order.Length && step < total; start += o.BatchSize)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    int count = Math.Min(o.BatchSize, order.Length - start);
                    clock.Start();
                    Graph.ZeroGradients();
                    double loss = 0;
                    for (int i = 0; i < count; i++)
                    {
                        var s = training[order[start + i]];
                        loss += Graph.AccumulateGradients(s, 1f / count);
                        tokens += s.Length;
                        continuation += s.ContinuationLength;
                    }
                    loss /= count;
                    step++;
                    double lr = LearningRateAt(step, total, o.LearningRate, o.WarmupFraction);
                    Graph.AdamStep(new AdamParameters((float)lr, o.Beta1, o.Beta2, o.Epsilon, o.WeightDecay, step));
                    Graph.Ops.Synchronize();
                    clock.Stop();
                    losses.Add(loss);

                    bool epochEnd = start + o.BatchSize >= order.Length;
                    bool evaluate = heldOut is not null && (step == total || (o.EvaluateEvery > 0 ? step % o.EvaluateEvery == 0 : epochEnd));
                    double? held = evaluate ? Evaluate(heldOut!, cancellationToken) : null;
                    if (held is not null)
                        last = held;
                    progress?.Report(new EndToEndProgress(step, total, epoch, loss, lr, held, tokens,
                        clock.Elapsed > TimeSpan.Zero ? tokens / clock.Elapsed.TotalSeconds : 0));
                }
                Graph.StoreAdapters(_adapters);
                epochCompleted?.Invoke(epoch);
            }
        }
        finally
        {
            Graph.StoreAdapters(_adapters);
        }
        return new EndToEndResult(step, tokens, continuation, clock.Elapsed, initial, last, losses);
    }

    public void Dispose() => Graph.Dispose();
}
