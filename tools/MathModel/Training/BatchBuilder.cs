using static TorchSharp.torch;

namespace Caprese.MathModel.Training;

/// <summary>Pads a set of examples into input ids [B, T] and targets [B, T] (−100 where nothing is predicted).</summary>
public static class BatchBuilder
{
    public const long Ignore = -100;

    public static (Tensor Inputs, Tensor Targets, long AnswerTokens) Build(IReadOnlyList<TrainingExample> examples, int padId)
    {
        int t = examples.Max(e => e.Tokens.Length) - 1;
        var inputs = new long[examples.Count * t];
        var targets = new long[examples.Count * t];
        long answerTokens = 0;
        for (int b = 0; b < examples.Count; b++)
        {
            var e = examples[b];
            for (int i = 0; i < t; i++)
            {
                bool real = i + 1 < e.Tokens.Length;
                inputs[b * t + i] = real ? e.Tokens[i] : padId;
                // Position i predicts token i+1; the answer starts at index PromptLength.
                bool predicted = real && i + 1 >= e.PromptLength;
                targets[b * t + i] = predicted ? e.Tokens[i + 1] : Ignore;
                if (predicted)
                    answerTokens++;
            }
        }
        return (tensor(inputs, [examples.Count, t]), tensor(targets, [examples.Count, t]), answerTokens);
    }
}
