namespace Caprese.MathModel.Training;

/// <summary>
/// Everything that decides the trained weights. The defaults are the recipe of models/arith-6m; with the same recipe,
/// data and thread count, libtorch's CPU kernels give the same weights run after run.
/// </summary>
public sealed record TrainingRecipe(
    int Steps = 1600,
    int BatchSize = 32,
    double PeakLearningRate = 2e-3,
    double FinalLearningRateFraction = 0.05,
    int WarmupSteps = 60,
    double WeightDecay = 0.01,
    double GradientClip = 1.0,
    int Seed = 1234,
    int Threads = 2,
    int EvalEvery = 100,
    int CheckpointEvery = 200,
    int ValidationExamples = 256)
{
    /// <summary>Linear warm-up, then cosine decay to <see cref="FinalLearningRateFraction"/> of the peak.</summary>
    public double LearningRate(int step)
    {
        if (step < WarmupSteps)
            return PeakLearningRate * (step + 1) / WarmupSteps;
        double progress = Math.Min(1.0, (double)(step - WarmupSteps) / Math.Max(1, Steps - WarmupSteps));
        double cosine = 0.5 * (1 + Math.Cos(Math.PI * progress));
        return PeakLearningRate * (FinalLearningRateFraction + (1 - FinalLearningRateFraction) * cosine);
    }
}
