using Caprese.Models.Adapters;
using Caprese.Models.Transformer;

namespace Caprese.Models.Training.Stage1;

/// <summary>Stage-1 training settings; the defaults are the paper's.</summary>
/// <param name="Rank">Adapter rank r; 0 = <see cref="AdapterSet.DefaultRank"/> (about 1% extra parameters).</param>
/// <param name="LearningRate">Peak Adam learning rate.</param>
/// <param name="BatchSize">Rows per step.</param>
/// <param name="Epochs">Passes over each layer's rows (reshuffled every epoch).</param>
/// <param name="WarmupFraction">Fraction of the steps the learning rate rises linearly from 0; then it falls linearly to 0.</param>
/// <param name="Seed">Initialisation (L ~ N(0, 1/D), R = 0) and shuffling.</param>
/// <param name="InitFromRrr">Start from the closed-form <see cref="ReducedRankRegression"/> optimum instead of the paper's init.</param>
/// <param name="Beta1">Adam β1.</param>
/// <param name="Beta2">Adam β2.</param>
/// <param name="Epsilon">Adam ε.</param>
public sealed record LayerwiseDistillerOptions(
    int Rank = 0,
    double LearningRate = 1e-3,
    int BatchSize = 128,
    int Epochs = 20,
    double WarmupFraction = 0.02,
    int Seed = 0,
    bool InitFromRrr = false,
    double Beta1 = 0.9,
    double Beta2 = 0.999,
    double Epsilon = 1e-8)
{
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegative(Rank, nameof(Rank));
        if (!(LearningRate > 0))
            throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "must be > 0");
        ArgumentOutOfRangeException.ThrowIfLessThan(BatchSize, 1, nameof(BatchSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(Epochs, 0, nameof(Epochs));
        if (!(WarmupFraction >= 0 && WarmupFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(WarmupFraction), WarmupFraction, "must be in [0, 1)");
    }

    /// <summary>The learning rate of step <paramref name="step"/> (0-based) of <paramref name="total"/>: linear warm-up, then linear decay.</summary>
    public double LearningRateAt(int step, int total)
    {
        int warmup = (int)Math.Ceiling(WarmupFraction * total);
        if (step < warmup)
            return LearningRate * (step + 1) / warmup;
        return LearningRate * Math.Max(0, total - step) / Math.Max(1, total - warmup);
    }
}

/// <summary>Progress of stage 1: one report per layer and epoch.</summary>
/// <param name="Layer">The layer being trained.</param>
/// <param name="Epoch">Epochs done (1-based).</param>
/// <param name="Epochs">Epochs in all.</param>
/// <param name="Loss">Mean squared error over the epoch's batches (as they were trained).</param>
public sealed record Stage1Progress(int Layer, int Epoch, int Epochs, double Loss);

/// <summary>How one layer's training went.</summary>
/// <param name="Layer">The layer.</param>
/// <param name="Rows">Training rows.</param>
/// <param name="InitialLoss">MSE of the starting adapter over all rows (the plain sparse FFN's, for the paper's init).</param>
/// <param name="FinalLoss">MSE of the trained adapter over all rows.</param>
/// <param name="Steps">Adam steps.</param>
public sealed record LayerDistillationResult(int Layer, int Rows, double InitialLoss, double FinalLoss, int Steps);

/// <summary>Stage 1's output.</summary>
public sealed record Stage1Result(AdapterSet Adapters, IReadOnlyList<LayerDistillationResult> Layers);

/// <summary>
/// Stage 1 of Caprese: for every sparsified layer independently, minimises the mean squared error
/// ‖X·L·R − T‖² / (N·D) over the layer's collected rows with Adam (host update; the products of the forward and the
/// gradient run on the model's backend, see <see cref="LowRankGradient"/>).
/// </summary>
public sealed class LayerwiseDistiller
{
    private readonly TransformerModel _model;

    public LayerwiseDistiller(TransformerModel model, LayerwiseDistillerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        options ??= new();
        options.Validate();
        _model = model;
        Options = options;
    }

    public LayerwiseDistillerOptions Options { get; }

    /// <summary>Trains one adapter per layer of <paramref name="data"/>.</summary>
    public Stage1Result Train(Stage1Dataset data, IProgress<Stage1Progress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        var config = _model.Config;
        if (data.ModelLayers != config.Layers || data.Layers.Any(l => l.Dim != config.Dim))
            throw new ArgumentException("the data was collected from a model of another shape", nameof(data));
        int rank = Options.Rank > 0 ? Options.Rank : AdapterSet.DefaultRank(config, data.Sparsity);
        var initial = AdapterSet.CreateInitial(config, data.Sparsity, rank, Options.Seed);
        var adapters = new List<LowRankAdapter>();
        var results = new List<LayerDistillationResult>();
        foreach (var samples in data.Layers)
        {
            var start = Options.InitFromRrr ? FromRrr(samples, rank) : initial.ForLayer(samples.Layer)!;
            var (trained, result) = TrainLayer(samples, start, progress, cancellationToken);
            adapters.Add(trained);
            results.Add(result);
        }
        return new Stage1Result(new AdapterSet(config.Layers, data.Sparsity, adapters), results);
    }

    /// <summary>Trains a copy of <paramref name="start"/> on one layer's rows.</summary>
    public (LowRankAdapter Adapter, LayerDistillationResult Result) TrainLayer(LayerSamples samples, LowRankAdapter start,
        IProgress<Stage1Progress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(samples);
        ArgumentNullException.ThrowIfNull(start);
        if (start.Dim != samples.Dim)
            throw new ArgumentException($"adapter dimension {start.Dim} differs from the data's {samples.Dim}");
        var adapter = new LowRankAdapter(samples.Layer, start.Dim, start.Rank, (float[])start.L.Clone(), (float[])start.R.Clone());
        int d = samples.Dim, rank = adapter.Rank, rows = samples.Rows;
        double initialLoss = ReducedRankRegression.Loss(samples.Inputs, samples.Targets, d, adapter.L, adapter.R, rank);

        int batch = Math.Min(Options.BatchSize, rows);
        int stepsPerEpoch = (rows + batch - 1) / batch, total = stepsPerEpoch * Options.Epochs;
        var adamL = new AdamOptimizer(adapter.L.Length, Options.Beta1, Options.Beta2, Options.Epsilon);
        var adamR = new AdamOptimizer(adapter.R.Length, Options.Beta1, Options.Beta2, Options.Epsilon);
        var dL = new float[adapter.L.Length];
        var dR = new float[adapter.R.Length];
        var x = new float[batch * d];
        var t = new float[batch * d];
        var order = Enumerable.Range(0, rows).ToArray();
        var rng = new Random(unchecked(Options.Seed * 7919 + samples.Layer)); // not HashCode.Combine: that is salted per process
        using var gradient = new LowRankGradient(_model.Context, d, rank, batch);

        int step = 0;
        for (int epoch = 1; epoch <= Options.Epochs; epoch++)
        {
            rng.Shuffle(order);
            double epochLoss = 0;
            for (int first = 0; first < rows; first += batch)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int n = Math.Min(batch, rows - first);
                for (int i = 0; i < n; i++)
                {
                    samples.Inputs.AsSpan(order[first + i] * d, d).CopyTo(x.AsSpan(i * d));
                    samples.Targets.AsSpan(order[first + i] * d, d).CopyTo(t.AsSpan(i * d));
                }
                epochLoss += n * gradient.Compute(x, t, n, adapter.L, adapter.R, dL, dR);
                double lr = Options.LearningRateAt(step++, total);
                adamL.Update(adapter.L, dL, lr);
                adamR.Update(adapter.R, dR, lr);
            }
            progress?.Report(new Stage1Progress(samples.Layer, epoch, Options.Epochs, epochLoss / rows));
        }
        double finalLoss = ReducedRankRegression.Loss(samples.Inputs, samples.Targets, d, adapter.L, adapter.R, rank);
        return (adapter, new LayerDistillationResult(samples.Layer, rows, initialLoss, finalLoss, step));
    }

    /// <summary>The closed-form optimum of one layer as an adapter.</summary>
    public static LowRankAdapter FromRrr(LayerSamples samples, int rank)
    {
        ArgumentNullException.ThrowIfNull(samples);
        var s = ReducedRankRegression.Solve(samples.Inputs, samples.Targets, samples.Dim, rank);
        return new LowRankAdapter(samples.Layer, samples.Dim, rank, s.L, s.R);
    }
}
