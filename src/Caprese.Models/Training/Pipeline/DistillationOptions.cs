using Caprese.Models.Sparsity;
using Caprese.Models.Training.EndToEnd;
using Caprese.Models.Training.Stage1;

namespace Caprese.Models.Training.Pipeline;

/// <summary>Everything a Caprese distillation run needs besides the model and the data.</summary>
/// <param name="Sparsity">The sparsity the adapters repair (GRIFFIN or CATS).</param>
/// <param name="Rank">Adapter rank; 0 = <see cref="Adapters.AdapterSet.DefaultRank"/> (about 1% extra parameters).</param>
/// <param name="Stage1">Layer-wise stage; <c>Epochs = 0</c> with <c>InitFromRrr</c> = the closed-form optimum alone.</param>
/// <param name="Stage2">End-to-end stage; null skips it.</param>
public sealed record DistillationOptions(
    SparsityOptions Sparsity,
    int Rank,
    LayerwiseDistillerOptions Stage1,
    EndToEndOptions? Stage2)
{
    /// <summary>
    /// The settings that decide what a checkpoint holds: resuming with other values would mix two runs, so
    /// <see cref="DistillationCheckpoint"/> refuses it.
    /// </summary>
    public string Fingerprint(int rank, string corpus) =>
        FormattableString.Invariant(
            $"{Sparsity.Method}/{Sparsity.Sparsity}/{Sparsity.FirstLayer}/{Sparsity.LayerCount}|r{rank}|s1:{Stage1.Epochs},{Stage1.LearningRate},{Stage1.BatchSize},{Stage1.Seed},{Stage1.InitFromRrr}|s2:{Stage2?.Epochs},{Stage2?.LearningRate},{Stage2?.BatchSize},{Stage2?.Seed}|{corpus}");
}

/// <summary>What the pipeline is doing, for progress bars.</summary>
/// <param name="Phase">"collect", "stage1" or "stage2".</param>
/// <param name="Done">Units done in this phase (sequences, layer-epochs, steps).</param>
/// <param name="Total">Units in this phase.</param>
/// <param name="Detail">A short human-readable status (layer, loss, tokens/s).</param>
public sealed record DistillationProgress(string Phase, int Done, int Total, string Detail);

/// <summary>Loss curves of a run (also kept in checkpoints, so a resumed run plots the whole history).</summary>
public sealed class DistillationHistory
{
    /// <summary>Stage 1: per layer, the mean training MSE of each epoch.</summary>
    public SortedDictionary<int, List<double>> Stage1EpochLoss { get; init; } = [];

    /// <summary>Stage 1: per layer, MSE of the closed-form rank-r optimum on the same data (the oracle).</summary>
    public SortedDictionary<int, double> Stage1OptimumLoss { get; init; } = [];

    /// <summary>Stage 1: per layer, MSE of the plain sparse FFN (adapter R = 0).</summary>
    public SortedDictionary<int, double> Stage1SparseLoss { get; init; } = [];

    /// <summary>Stage 2: the batch loss of every step.</summary>
    public List<double> Stage2StepLoss { get; init; } = [];

    /// <summary>Stage 2: (step, held-out loss), step 0 = before training.</summary>
    public List<(int Step, double Loss)> Stage2HeldOutLoss { get; init; } = [];

    public double Stage1TokensPerSecond { get; set; }
    public double Stage2TokensPerSecond { get; set; }
}
