namespace Caprese.Models.Decoding.Judge;

/// <summary>One training example: the target model's final hidden state at a drafted token and whether the token is acceptable.</summary>
/// <param name="Hidden">The hidden state (raw, as the model produces it).</param>
/// <param name="Acceptable">True for a token the judge should accept.</param>
public sealed record JudgeExample(float[] Hidden, bool Acceptable);

/// <summary>How <see cref="JudgeTrainer"/> fits a <see cref="JudgeHead"/>.</summary>
/// <param name="Epochs">Passes over the examples (reshuffled every epoch).</param>
/// <param name="LearningRate">Adam step size (constant).</param>
/// <param name="WeightDecay">
/// L2 penalty <c>WeightDecay / 2 · ‖w‖²</c> on the weights (not the bias). The trainer standardises the features, so
/// the penalty applies to the weights of standardised features, which treats every hidden-state element alike
/// whatever its scale.
/// </param>
/// <param name="BatchSize">Examples per Adam step.</param>
/// <param name="Seed">Shuffling; the same examples, options and seed give the same head bit for bit.</param>
/// <param name="PositiveWeight">
/// Weight of an acceptable example relative to an unacceptable one (weight 1) in the cross-entropy. Null = automatic:
/// each class is weighted inversely to its frequency (N / (2·N_class)), so the rarer class counts as much as the
/// common one, as the judge-decoding paper's weighted cross-entropy does.
/// </param>
/// <param name="Beta1">Adam β1.</param>
/// <param name="Beta2">Adam β2.</param>
/// <param name="Epsilon">Adam ε.</param>
public sealed record JudgeTrainingOptions(
    int Epochs = 100,
    double LearningRate = 0.01,
    double WeightDecay = 1e-4,
    int BatchSize = 256,
    int Seed = 0,
    double? PositiveWeight = null,
    double Beta1 = 0.9,
    double Beta2 = 0.999,
    double Epsilon = 1e-8)
{
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range (named in the exception).</exception>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(Epochs, 1, nameof(Epochs));
        if (!(LearningRate > 0 && double.IsFinite(LearningRate)))
            throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "must be finite and > 0");
        if (!(WeightDecay >= 0 && double.IsFinite(WeightDecay)))
            throw new ArgumentOutOfRangeException(nameof(WeightDecay), WeightDecay, "must be finite and >= 0");
        ArgumentOutOfRangeException.ThrowIfLessThan(BatchSize, 1, nameof(BatchSize));
        if (PositiveWeight is { } w && !(w > 0 && double.IsFinite(w)))
            throw new ArgumentOutOfRangeException(nameof(PositiveWeight), w, "must be finite and > 0, or null for automatic class weights");
        if (!(Beta1 >= 0 && Beta1 < 1))
            throw new ArgumentOutOfRangeException(nameof(Beta1), Beta1, "must be in [0, 1)");
        if (!(Beta2 >= 0 && Beta2 < 1))
            throw new ArgumentOutOfRangeException(nameof(Beta2), Beta2, "must be in [0, 1)");
        if (!(Epsilon > 0 && double.IsFinite(Epsilon)))
            throw new ArgumentOutOfRangeException(nameof(Epsilon), Epsilon, "must be finite and > 0");
    }
}

/// <summary>Progress of <see cref="JudgeTrainer.Train"/>: one report per epoch.</summary>
/// <param name="Epoch">Epochs done (1-based).</param>
/// <param name="Epochs">Epochs in all.</param>
/// <param name="Loss">Weighted cross-entropy over the epoch's batches, as they were trained (penalty excluded).</param>
public sealed record JudgeTrainingProgress(int Epoch, int Epochs, double Loss);

/// <summary>What <see cref="JudgeTrainer.Train"/> produced.</summary>
/// <param name="Head">The trained head; it reads raw hidden states.</param>
/// <param name="FinalLoss">Weighted cross-entropy of <paramref name="Head"/> over all examples (class weights as trained, penalty excluded).</param>
/// <param name="AcceptableAccuracy">Fraction of acceptable examples with logit &gt; 0 (probability &gt; 0.5).</param>
/// <param name="UnacceptableAccuracy">Fraction of unacceptable examples with logit &lt;= 0.</param>
/// <param name="AcceptableCount">Acceptable examples.</param>
/// <param name="UnacceptableCount">Unacceptable examples.</param>
/// <param name="PositiveWeight">The weight each acceptable example had.</param>
/// <param name="NegativeWeight">The weight each unacceptable example had.</param>
/// <param name="Steps">Adam steps taken.</param>
public sealed record JudgeTrainingResult(
    JudgeHead Head,
    double FinalLoss,
    double AcceptableAccuracy,
    double UnacceptableAccuracy,
    int AcceptableCount,
    int UnacceptableCount,
    double PositiveWeight,
    double NegativeWeight,
    int Steps);
