using System.Globalization;

namespace Caprese.Models.Decoding.Judge;

/// <summary>
/// Fits a <see cref="JudgeHead"/> by weighted logistic regression: minimises the class-weighted binary cross-entropy
/// of sigmoid(w·x + b) plus an L2 penalty with Adam on shuffled minibatches. Features are standardised internally
/// (mean 0, variance 1 per element, which makes one learning rate fit hidden states of any scale); the mean and
/// standard deviation are folded back into the head so that it reads raw hidden states. Single-threaded and
/// deterministic for a seed.
/// </summary>
public static class JudgeTrainer
{
    /// <summary>Trains a head on <paramref name="examples"/>.</summary>
    /// <exception cref="ArgumentException">
    /// No examples, a missing or empty hidden state, hidden states of different lengths, a non-finite feature, or only
    /// one class present (the head needs both acceptable and unacceptable examples).
    /// </exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public static JudgeTrainingResult Train(IReadOnlyList<JudgeExample> examples, JudgeTrainingOptions options,
        IProgress<JudgeTrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        int dim = CheckExamples(examples, out int positives, out int negatives);
        int n = examples.Count;

        // Automatic weights give each class the same total weight (n/2); explicit ones are relative to negatives.
        double positiveWeight = options.PositiveWeight ?? n / (2.0 * positives);
        double negativeWeight = options.PositiveWeight is null ? n / (2.0 * negatives) : 1.0;

        var scaling = FeatureScaling.Of(examples, dim);
        var weights = new double[dim];
        var gradient = new double[dim];
        var m = new double[dim];
        var v = new double[dim];
        // Start at the weighted prior log-odds (0 with automatic weights), so early steps shape w, not the bias.
        double bias = Math.Log(positiveWeight * positives / (negativeWeight * negatives));
        double mBias = 0, vBias = 0;

        var order = new int[n];
        for (int i = 0; i < n; i++)
            order[i] = i;
        var rng = new Random(options.Seed);
        int step = 0;
        double beta1 = options.Beta1, beta2 = options.Beta2;
        for (int epoch = 1; epoch <= options.Epochs; epoch++)
        {
            rng.Shuffle(order);
            double epochLoss = 0, epochWeight = 0;
            for (int start = 0; start < n; start += options.BatchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var batch = order.AsSpan(start, Math.Min(options.BatchSize, n - start));
                WeightedLossAndGradient(examples, batch, positiveWeight, negativeWeight, scaling, weights, bias,
                    options.WeightDecay, gradient, out double biasGradient, out double crossEntropy);
                double batchWeight = 0;
                foreach (int i in batch)
                    batchWeight += examples[i].Acceptable ? positiveWeight : negativeWeight;
                epochLoss += crossEntropy * batchWeight;
                epochWeight += batchWeight;

                step++;
                double correction1 = 1 - Math.Pow(beta1, step), correction2 = 1 - Math.Pow(beta2, step);
                double rate = options.LearningRate * Math.Sqrt(correction2) / correction1;
                for (int j = 0; j < dim; j++)
                {
                    double g = gradient[j];
                    m[j] = beta1 * m[j] + (1 - beta1) * g;
                    v[j] = beta2 * v[j] + (1 - beta2) * g * g;
                    weights[j] -= rate * m[j] / (Math.Sqrt(v[j]) + options.Epsilon * Math.Sqrt(correction2));
                }
                mBias = beta1 * mBias + (1 - beta1) * biasGradient;
                vBias = beta2 * vBias + (1 - beta2) * biasGradient * biasGradient;
                bias -= rate * mBias / (Math.Sqrt(vBias) + options.Epsilon * Math.Sqrt(correction2));
            }
            progress?.Report(new JudgeTrainingProgress(epoch, options.Epochs, epochLoss / epochWeight));
        }

        var head = scaling.FoldInto(weights, bias);
        return Evaluate(head, examples, positiveWeight, negativeWeight, positives, negatives, step);
    }

    /// <summary>
    /// The objective and its gradient on one batch, in the standardised space the trainer optimises:
    /// <c>Σ s_i·CE(z_i, y_i) / Σ s_i + weightDecay/2·‖w‖²</c> with <c>z_i = w·scale(x_i) + b</c>, s_i the class weight
    /// and CE the binary cross-entropy of the logit. Writes d/dw into <paramref name="weightGradient"/> and d/db into
    /// <paramref name="biasGradient"/>; <paramref name="crossEntropy"/> is the objective without the penalty.
    /// </summary>
    internal static double WeightedLossAndGradient(IReadOnlyList<JudgeExample> examples, ReadOnlySpan<int> batch,
        double positiveWeight, double negativeWeight, FeatureScaling scaling, ReadOnlySpan<double> weights, double bias,
        double weightDecay, Span<double> weightGradient, out double biasGradient, out double crossEntropy)
    {
        int dim = weights.Length;
        if (weightGradient.Length != dim || scaling.Dim != dim)
            throw new ArgumentException($"weights ({dim}), gradient ({weightGradient.Length}) and scaling ({scaling.Dim}) must have one length");
        // Standardising x inside the dot product (u = w/σ, c = b − u·μ) avoids a scaled copy of every hidden state.
        var effective = new double[dim];
        double offset = bias;
        for (int j = 0; j < dim; j++)
        {
            effective[j] = weights[j] * scaling.InverseStd[j];
            offset -= effective[j] * scaling.Mean[j];
        }

        var rawGradient = new double[dim];
        double residualSum = 0, weightSum = 0, loss = 0;
        foreach (int i in batch)
        {
            var example = examples[i];
            var x = example.Hidden;
            double z = offset;
            for (int j = 0; j < dim; j++)
                z += effective[j] * x[j];
            double y = example.Acceptable ? 1 : 0;
            double s = example.Acceptable ? positiveWeight : negativeWeight;
            // CE = softplus(z) − y·z, written so that exp never overflows.
            loss += s * (Math.Max(z, 0) + Math.Log(1 + Math.Exp(-Math.Abs(z))) - y * z);
            double residual = s * (JudgeHead.Sigmoid(z) - y);
            residualSum += residual;
            weightSum += s;
            for (int j = 0; j < dim; j++)
                rawGradient[j] += residual * x[j];
        }
        if (!(weightSum > 0))
            throw new ArgumentException("the batch is empty", nameof(batch));

        double penalty = 0;
        for (int j = 0; j < dim; j++)
        {
            // d/dw_j of Σ r_i (x_ij − μ_j)/σ_j, from the raw sums.
            weightGradient[j] = (rawGradient[j] - scaling.Mean[j] * residualSum) * scaling.InverseStd[j] / weightSum + weightDecay * weights[j];
            penalty += weights[j] * weights[j];
        }
        biasGradient = residualSum / weightSum;
        crossEntropy = loss / weightSum;
        return crossEntropy + 0.5 * weightDecay * penalty;
    }

    private static int CheckExamples(IReadOnlyList<JudgeExample> examples, out int positives, out int negatives)
    {
        if (examples.Count == 0)
            throw new ArgumentException("no examples: training needs at least one acceptable and one unacceptable example", nameof(examples));
        positives = negatives = 0;
        int dim = -1;
        for (int i = 0; i < examples.Count; i++)
        {
            var hidden = examples[i]?.Hidden
                ?? throw new ArgumentException($"example {i} or its hidden state is null", nameof(examples));
            if (hidden.Length == 0)
                throw new ArgumentException($"example {i} has an empty hidden state", nameof(examples));
            if (dim < 0)
                dim = hidden.Length;
            else if (hidden.Length != dim)
                throw new ArgumentException($"example {i} has {hidden.Length} features, example 0 has {dim}: all hidden states must have one length", nameof(examples));
            for (int j = 0; j < hidden.Length; j++)
                if (!float.IsFinite(hidden[j]))
                    throw new ArgumentException($"example {i} feature {j} is {hidden[j].ToString(CultureInfo.InvariantCulture)} (not finite)", nameof(examples));
            if (examples[i].Acceptable)
                positives++;
            else
                negatives++;
        }
        if (positives == 0 || negatives == 0)
            throw new ArgumentException($"only one class present ({positives} acceptable, {negatives} unacceptable examples): " +
                "training needs at least one acceptable and one unacceptable example", nameof(examples));
        return dim;
    }

    // Loss and accuracy of the float head as it will be used, on raw hidden states.
    private static JudgeTrainingResult Evaluate(JudgeHead head, IReadOnlyList<JudgeExample> examples, double positiveWeight, double negativeWeight,
        int positives, int negatives, int steps)
    {
        double loss = 0, weightSum = 0;
        int positiveCorrect = 0, negativeCorrect = 0;
        foreach (var example in examples)
        {
            double z = head.Logit(example.Hidden);
            double y = example.Acceptable ? 1 : 0;
            double s = example.Acceptable ? positiveWeight : negativeWeight;
            loss += s * (Math.Max(z, 0) + Math.Log(1 + Math.Exp(-Math.Abs(z))) - y * z);
            weightSum += s;
            if (example.Acceptable && z > 0)
                positiveCorrect++;
            else if (!example.Acceptable && z <= 0)
                negativeCorrect++;
        }
        return new JudgeTrainingResult(head, loss / weightSum, (double)positiveCorrect / positives, (double)negativeCorrect / negatives,
            positives, negatives, positiveWeight, negativeWeight, steps);
    }
}

/// <summary>Per-feature mean and 1/standard deviation; constant features keep scale 1 (they are centred to 0 anyway).</summary>
internal sealed class FeatureScaling
{
    public FeatureScaling(double[] mean, double[] inverseStd)
    {
        if (mean.Length != inverseStd.Length)
            throw new ArgumentException("mean and inverse standard deviation need one length");
        Mean = mean;
        InverseStd = inverseStd;
    }

    public double[] Mean { get; }
    public double[] InverseStd { get; }
    public int Dim => Mean.Length;

    public static FeatureScaling Identity(int dim) => new(new double[dim], Enumerable.Repeat(1.0, dim).ToArray());

    public static FeatureScaling Of(IReadOnlyList<JudgeExample> examples, int dim)
    {
        var mean = new double[dim];
        foreach (var e in examples)
            for (int j = 0; j < dim; j++)
                mean[j] += e.Hidden[j];
        for (int j = 0; j < dim; j++)
            mean[j] /= examples.Count;
        // Two passes: the one-pass formula cancels badly for hidden states with a large mean.
        var variance = new double[dim];
        foreach (var e in examples)
            for (int j = 0; j < dim; j++)
            {
                double d = e.Hidden[j] - mean[j];
                variance[j] += d * d;
            }
        var inverseStd = new double[dim];
        for (int j = 0; j < dim; j++)
        {
            double std = Math.Sqrt(variance[j] / examples.Count);
            inverseStd[j] = std > 1e-12 * Math.Max(1, Math.Abs(mean[j])) ? 1 / std : 1;
        }
        return new FeatureScaling(mean, inverseStd);
    }

    /// <summary>The head on raw features equal to (w, b) on standardised ones: w/σ and b − Σ w·μ/σ.</summary>
    public JudgeHead FoldInto(ReadOnlySpan<double> weights, double bias)
    {
        var raw = new float[Dim];
        double offset = bias;
        for (int j = 0; j < Dim; j++)
        {
            raw[j] = (float)(weights[j] * InverseStd[j]);
            // The rounded weight, so that the bias cancels exactly what the float head adds for the mean.
            offset -= raw[j] * Mean[j];
        }
        return new JudgeHead(raw, (float)offset);
    }
}
