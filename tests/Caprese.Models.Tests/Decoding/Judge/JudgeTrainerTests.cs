using Caprese.Models.Decoding.Judge;

namespace Caprese.Models.Tests.Decoding.Judge;

public sealed class JudgeTrainerTests
{
    /// <summary>
    /// Central differences with step 1e-5 on a smooth double-precision objective have truncation error ~h² and rounding
    /// error ~1e-16/h, both far below 1e-6 relative; a wrong term in the gradient (a missing 1/σ, μ or weight) is off by
    /// O(1) relative.
    /// </summary>
    private const double GradientTolerance = 1e-6;

    [Fact]
    public void AnalyticGradientMatchesCentralFiniteDifferences()
    {
        var rng = new Random(11);
        const int dim = 6;
        var examples = Enumerable.Range(0, 40)
            .Select(i => new JudgeExample(RandomVector(rng, dim, offset: 3, scale: 2), rng.NextDouble() < 0.3)).ToList();
        // A non-trivial scaling, so that the μ and 1/σ terms of the gradient are exercised.
        var scaling = new FeatureScaling(
            Enumerable.Range(0, dim).Select(_ => rng.NextDouble() * 4 - 2).ToArray(),
            Enumerable.Range(0, dim).Select(_ => 0.2 + rng.NextDouble()).ToArray());
        var weights = Enumerable.Range(0, dim).Select(_ => rng.NextDouble() - 0.5).ToArray();
        double bias = 0.3;
        int[] batch = [.. Enumerable.Range(0, 40).Where(i => i % 3 != 1)]; // a batch, not all rows
        const double positiveWeight = 2.5, negativeWeight = 0.7, decay = 0.05;

        var gradient = new double[dim];
        JudgeTrainer.WeightedLossAndGradient(examples, batch, positiveWeight, negativeWeight, scaling, weights, bias, decay,
            gradient, out double biasGradient, out _);

        double Objective(double[] w, double b) => JudgeTrainer.WeightedLossAndGradient(examples, batch, positiveWeight, negativeWeight,
            scaling, w, b, decay, new double[dim], out _, out _);
        const double h = 1e-5;
        for (int j = 0; j < dim; j++)
        {
            var plus = (double[])weights.Clone();
            var minus = (double[])weights.Clone();
            plus[j] += h;
            minus[j] -= h;
            double numeric = (Objective(plus, bias) - Objective(minus, bias)) / (2 * h);
            AssertClose(numeric, gradient[j], $"d/dw[{j}]");
        }
        AssertClose((Objective(weights, bias + h) - Objective(weights, bias - h)) / (2 * h), biasGradient, "d/db");
        Assert.True(gradient.Any(g => Math.Abs(g) > 1e-3), "the gradient is too flat to test anything");
    }

    [Fact]
    public void ObjectiveIsTheWeightedMeanCrossEntropyPlusPenalty()
    {
        // Two examples with hand-computed losses: z = 0 gives ln 2 whatever the label; z = 2 for a negative gives softplus(2).
        JudgeExample[] examples = [new([0f], true), new([2f], false)];
        double objective = JudgeTrainer.WeightedLossAndGradient(examples, [0, 1], 3, 1, FeatureScaling.Identity(1), [1.0], 0, 0.5,
            new double[1], out _, out double crossEntropy);
        double expected = (3 * Math.Log(2) + 1 * Math.Log(1 + Math.Exp(2))) / 4;
        Assert.Equal(expected, crossEntropy, 12);
        Assert.Equal(expected + 0.25, objective, 12);
    }

    [Fact]
    public void AutomaticClassWeightsLearnTheRareClassThatAnUnweightedRunMisses()
    {
        var examples = Imbalanced(seed: 5, count: 2000, positiveFraction: 0.05);
        var options = new JudgeTrainingOptions(Epochs: 40, LearningRate: 0.05, WeightDecay: 0.05, BatchSize: 128, Seed: 3);

        var weighted = JudgeTrainer.Train(examples, options, cancellationToken: TestContext.Current.CancellationToken);
        var unweighted = JudgeTrainer.Train(examples, options with { PositiveWeight = 1 }, cancellationToken: TestContext.Current.CancellationToken);

        string report = $"weighted: acceptable {weighted.AcceptableAccuracy:P1}, unacceptable {weighted.UnacceptableAccuracy:P1}; " +
            $"unweighted: acceptable {unweighted.AcceptableAccuracy:P1}, unacceptable {unweighted.UnacceptableAccuracy:P1}";
        Assert.Equal((100, 1900), (weighted.AcceptableCount, weighted.UnacceptableCount));
        Assert.Equal(2000 / (2.0 * 100), weighted.PositiveWeight, 12);
        Assert.Equal(2000 / (2.0 * 1900), weighted.NegativeWeight, 12);
        Assert.Equal((1.0, 1.0), (unweighted.PositiveWeight, unweighted.NegativeWeight));
        Assert.True(weighted.AcceptableAccuracy >= 0.95 && weighted.UnacceptableAccuracy >= 0.95, report);
        Assert.True(unweighted.AcceptableAccuracy <= weighted.AcceptableAccuracy - 0.2, report);

        // The reported accuracy is the head's on raw hidden states.
        double recount = examples.Where(e => e.Acceptable).Count(e => weighted.Head.Logit(e.Hidden) > 0) / 100.0;
        Assert.Equal(weighted.AcceptableAccuracy, recount);
    }

    [Fact]
    public void StandardisationIsFoldedIntoTheHead()
    {
        // Hidden states with a large offset and very different scales per element: the head must still read them raw.
        var rng = new Random(21);
        var examples = new List<JudgeExample>();
        for (int i = 0; i < 600; i++)
        {
            bool acceptable = i % 3 == 0;
            float signal = (float)((acceptable ? 1 : -1) * (0.5 + rng.NextDouble()));
            examples.Add(new JudgeExample([1000f + 0.01f * signal, 500f + 300f * (float)rng.NextDouble(), -20f + signal * 50f, 7f], acceptable));
        }
        var result = JudgeTrainer.Train(examples, new JudgeTrainingOptions(Epochs: 30, LearningRate: 0.05, Seed: 1),
            cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(1.0, result.AcceptableAccuracy);
        Assert.Equal(1.0, result.UnacceptableAccuracy);
        Assert.True(result.FinalLoss < 0.1, $"final loss {result.FinalLoss}");
        // The constant element carries no information; its weight and the mean it would add are folded away, not blown up.
        Assert.True(Math.Abs(result.Head.Weights.Span[3]) < 1, $"constant feature weight {result.Head.Weights.Span[3]}");
        double recomputed = examples.Average(e =>
        {
            double z = result.Head.Logit(e.Hidden);
            double s = e.Acceptable ? result.PositiveWeight : result.NegativeWeight;
            return s * (Math.Log(1 + Math.Exp(-Math.Abs(z))) + Math.Max(z, 0) - (e.Acceptable ? z : 0));
        }) / examples.Average(e => e.Acceptable ? result.PositiveWeight : result.NegativeWeight);
        Assert.Equal(recomputed, result.FinalLoss, 9);
    }

    [Fact]
    public void TrainingIsDeterministicForASeedAndReportsEveryEpoch()
    {
        var examples = Imbalanced(seed: 8, count: 300, positiveFraction: 0.2);
        var options = new JudgeTrainingOptions(Epochs: 5, BatchSize: 32, Seed: 4);
        var reports = new List<JudgeTrainingProgress>();
        var a = JudgeTrainer.Train(examples, options, new SynchronousProgress<JudgeTrainingProgress>(reports.Add), TestContext.Current.CancellationToken);
        var b = JudgeTrainer.Train(examples, options, cancellationToken: TestContext.Current.CancellationToken);
        var c = JudgeTrainer.Train(examples, options with { Seed = 5 }, cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(a.Head.Weights.ToArray(), b.Head.Weights.ToArray());
        Assert.Equal(a.Head.Bias, b.Head.Bias);
        Assert.Equal(a.FinalLoss, b.FinalLoss);
        Assert.NotEqual(a.Head.Weights.ToArray(), c.Head.Weights.ToArray()); // the seed does shuffle
        Assert.Equal([1, 2, 3, 4, 5], reports.Select(r => r.Epoch));
        Assert.All(reports, r => Assert.Equal(5, r.Epochs));
        Assert.All(reports, r => Assert.True(double.IsFinite(r.Loss) && r.Loss > 0));
        Assert.True(reports[^1].Loss < reports[0].Loss, $"loss went from {reports[0].Loss} to {reports[^1].Loss}");
        Assert.Equal(5 * ((300 + 31) / 32), a.Steps);
    }

    [Fact]
    public void BadExamplesAreRejectedWithTheReason()
    {
        var options = new JudgeTrainingOptions(Epochs: 1);
        var ct = TestContext.Current.CancellationToken;
        Assert.Contains("no examples", Assert.Throws<ArgumentException>(() => JudgeTrainer.Train([], options, cancellationToken: ct)).Message);

        JudgeExample[] mixed = [new([1f, 2f], true), new([1f, 2f], false), new([1f, 2f, 3f], false)];
        var e = Assert.Throws<ArgumentException>(() => JudgeTrainer.Train(mixed, options, cancellationToken: ct));
        Assert.Contains("example 2 has 3 features, example 0 has 2", e.Message);

        JudgeExample[] nan = [new([1f, 2f], true), new([1f, float.NaN], false)];
        Assert.Contains("example 1 feature 1 is NaN", Assert.Throws<ArgumentException>(() => JudgeTrainer.Train(nan, options, cancellationToken: ct)).Message);
        JudgeExample[] infinite = [new([float.PositiveInfinity], true), new([1f], false)];
        Assert.Contains("example 0 feature 0", Assert.Throws<ArgumentException>(() => JudgeTrainer.Train(infinite, options, cancellationToken: ct)).Message);

        JudgeExample[] onlyGood = [new([1f], true), new([2f], true)];
        var one = Assert.Throws<ArgumentException>(() => JudgeTrainer.Train(onlyGood, options, cancellationToken: ct));
        Assert.Contains("only one class", one.Message);
        Assert.Contains("2 acceptable, 0 unacceptable", one.Message);
        Assert.Contains("at least one acceptable and one unacceptable", one.Message);

        JudgeExample[] empty = [new([], true), new([], false)];
        Assert.Contains("empty hidden state", Assert.Throws<ArgumentException>(() => JudgeTrainer.Train(empty, options, cancellationToken: ct)).Message);
    }

    [Fact]
    public void OptionsAreValidated()
    {
        new JudgeTrainingOptions().Validate();
        new JudgeTrainingOptions(PositiveWeight: 3).Validate();
        JudgeTrainingOptions[] bad =
        [
            new(Epochs: 0), new(LearningRate: 0), new(LearningRate: double.NaN), new(WeightDecay: -1),
            new(WeightDecay: double.PositiveInfinity), new(BatchSize: 0), new(PositiveWeight: 0), new(PositiveWeight: -2),
            new(PositiveWeight: double.NaN), new(Beta1: 1), new(Beta2: -0.1), new(Epsilon: 0),
        ];
        foreach (var options in bad)
            Assert.Throws<ArgumentOutOfRangeException>(options.Validate);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new JudgeTrainingOptions(PositiveWeight: 0).Validate());
        Assert.Equal(nameof(JudgeTrainingOptions.PositiveWeight), e.ParamName);
        JudgeExample[] examples = [new([1f], true), new([2f], false)];
        Assert.Throws<ArgumentOutOfRangeException>(() => JudgeTrainer.Train(examples, new JudgeTrainingOptions(BatchSize: 0),
            cancellationToken: TestContext.Current.CancellationToken));
    }

    [Fact]
    public void ExplicitPositiveWeightIsRelativeToNegatives()
    {
        var examples = Imbalanced(seed: 2, count: 200, positiveFraction: 0.1);
        var result = JudgeTrainer.Train(examples, new JudgeTrainingOptions(Epochs: 1, PositiveWeight: 7), cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal((7.0, 1.0), (result.PositiveWeight, result.NegativeWeight));
    }

    [Fact]
    public void CancellationStopsTraining()
    {
        var examples = Imbalanced(seed: 2, count: 200, positiveFraction: 0.1);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.Throws<OperationCanceledException>(() => JudgeTrainer.Train(examples, new JudgeTrainingOptions(Epochs: 3), cancellationToken: cts.Token));
    }

    /// <summary>
    /// Linearly separable by element 0 alone (acceptable: x0 in [0.1, 1], unacceptable: x0 in [-1, -0.1]) with seven
    /// noise elements. Both classes crowd the boundary, so a penalised head cannot make the slope steep enough to get
    /// the rare class right on its own: unweighted, the majority's prior pushes the boundary into the rare class.
    /// </summary>
    private static List<JudgeExample> Imbalanced(int seed, int count, double positiveFraction)
    {
        var rng = new Random(seed);
        int positives = (int)Math.Round(count * positiveFraction);
        var examples = new List<JudgeExample>(count);
        for (int i = 0; i < count; i++)
        {
            bool acceptable = i < positives;
            var x = RandomVector(rng, 8, offset: 0, scale: 1);
            double magnitude = 0.1 + 0.9 * rng.NextDouble();
            x[0] = (float)(acceptable ? magnitude : -magnitude);
            examples.Add(new JudgeExample(x, acceptable));
        }
        return examples;
    }

    private static float[] RandomVector(Random rng, int dim, double offset, double scale) =>
        Enumerable.Range(0, dim).Select(_ => (float)(offset + scale * (2 * rng.NextDouble() - 1))).ToArray();

    private static void AssertClose(double expected, double actual, string what)
    {
        double error = Math.Abs(expected - actual) / Math.Max(1e-3, Math.Abs(expected));
        Assert.True(error <= GradientTolerance, $"{what}: finite differences {expected:R}, analytic {actual:R} (relative error {error:E2})");
    }
}
