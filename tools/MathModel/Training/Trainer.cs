using System.Diagnostics;
using System.Text.Json.Nodes;
using Caprese.MathModel.Model;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Caprese.MathModel.Training;

/// <summary>
/// Next-token training of <see cref="ArithLlama"/> on the answers of worked problems (AdamW, warm-up + cosine, gradient
/// clipping), with a validation pass every <see cref="TrainingRecipe.EvalEvery"/> steps, a checkpoint every
/// <see cref="TrainingRecipe.CheckpointEvery"/>, and a progress line on stderr.
/// Validation reports teacher-forced exact match: the share of problems whose every answer token is the model's argmax,
/// which is exactly the share that greedy decoding reproduces word for word (a lower bound on its accuracy).
/// </summary>
public sealed class Trainer(ArithLlama model, TrainingRecipe recipe, JsonObject tokenizerJson, int padId, TextWriter log)
{
    public sealed record ValidationResult(double Loss, double TokenAccuracy, double ExactMatch);

    /// <summary>Trains from <paramref name="startStep"/> to the recipe's step count; returns the last validation.</summary>
    public ValidationResult Run(IReadOnlyList<TrainingExample> train, IReadOnlyList<TrainingExample> validation, string outDirectory,
        int startStep = 0, CancellationToken ct = default)
    {
        torch.set_num_threads(recipe.Threads);
        var parameters = model.Parameters.Values.ToList();
        var optimizer = torch.optim.AdamW(parameters, lr: recipe.PeakLearningRate, beta1: 0.9, beta2: 0.95,
            weight_decay: recipe.WeightDecay);
        // Batches are runs of neighbours in length order, so padding wastes little compute; which run each step takes
        // depends only on the seed and the step, so a resumed run sees the batches it would have seen.
        var byLength = Enumerable.Range(0, train.Count).OrderBy(i => train[i].Tokens.Length).ThenBy(i => i).ToArray();
        var order = new Random(recipe.Seed);
        var sampleIndex = new int[recipe.BatchSize];
        var watch = Stopwatch.StartNew();
        long tokens = 0;
        ValidationResult? last = null;
        for (int step = 0; step < recipe.Steps; step++)
        {
            int first = order.Next(Math.Max(1, train.Count - sampleIndex.Length + 1));
            for (int i = 0; i < sampleIndex.Length; i++)
                sampleIndex[i] = byLength[Math.Min(first + i, train.Count - 1)];
            if (step < startStep)
                continue;
            ct.ThrowIfCancellationRequested();
            double lr = recipe.LearningRate(step);
            // A resumed run starts with fresh Adam moments: ramp up again over the warm-up length so their first
            // estimates do not take full-size steps.
            if (startStep > 0)
                lr *= Math.Min(1.0, (step - startStep + 1) / (double)Math.Max(1, recipe.WarmupSteps));
            foreach (var group in optimizer.ParamGroups)
                group.LearningRate = lr;

            double loss;
            using (var scope = torch.NewDisposeScope())
            {
                var (inputs, targets, answerTokens) = BatchBuilder.Build(sampleIndex.Select(i => train[i]).ToList(), padId);
                var logits = model.Forward(inputs);
                var l = F.cross_entropy(logits.view(-1, logits.shape[2]), targets.view(-1), ignore_index: BatchBuilder.Ignore);
                optimizer.zero_grad();
                l.backward();
                torch.nn.utils.clip_grad_norm_(parameters, recipe.GradientClip);
                optimizer.step();
                loss = l.item<float>();
                tokens += inputs.numel();
            }

            int done = step + 1;
            double seconds = watch.Elapsed.TotalSeconds;
            double perStep = seconds / (done - startStep);
            log.Write($"\rstep {done}/{recipe.Steps}  loss {loss:F4}  lr {lr:E2}  {tokens / seconds:F0} tok/s  " +
                      $"eta {TimeSpan.FromSeconds(perStep * (recipe.Steps - done)):hh\\:mm\\:ss}   ");
            if (done % recipe.EvalEvery == 0 || done == recipe.Steps)
            {
                last = Validate(validation);
                log.WriteLine($"\nstep {done}: validation loss {last.Loss:F4}, token accuracy {last.TokenAccuracy:P2}, exact match {last.ExactMatch:P1}");
            }
            if (done % recipe.CheckpointEvery == 0 || done == recipe.Steps)
                CheckpointDirectory.Write(outDirectory, model, tokenizerJson, done, new Dictionary<string, string>
                {
                    ["validation_exact_match"] = last?.ExactMatch.ToString("F4") ?? "",
                    ["recipe"] = recipe.ToString(),
                });
        }
        return last ?? Validate(validation);
    }

    public ValidationResult Validate(IReadOnlyList<TrainingExample> validation)
    {
        using var _ = torch.no_grad();
        double lossSum = 0;
        long tokenCount = 0, tokenCorrect = 0, exact = 0;
        for (int start = 0; start < validation.Count; start += recipe.BatchSize)
        {
            using var scope = torch.NewDisposeScope();
            var batch = validation.Skip(start).Take(recipe.BatchSize).ToList();
            var (inputs, targets, answerTokens) = BatchBuilder.Build(batch, padId);
            var logits = model.Forward(inputs);
            var l = F.cross_entropy(logits.view(-1, logits.shape[2]), targets.view(-1), ignore_index: BatchBuilder.Ignore,
                reduction: nn.Reduction.Sum);
            lossSum += l.item<float>();
            tokenCount += answerTokens;
            var predicted = logits.argmax(-1);
            var counted = targets.ne(BatchBuilder.Ignore);
            var right = predicted.eq(targets).logical_and(counted);
            tokenCorrect += right.sum().item<long>();
            // A problem is an exact match when no counted position is wrong.
            var wrong = counted.logical_and(right.logical_not()).sum(1);
            exact += wrong.eq(0).sum().item<long>();
        }
        return new ValidationResult(lossSum / tokenCount, (double)tokenCorrect / tokenCount, (double)exact / validation.Count);
    }
}
