using Caprese.Models.Adapters;
using Caprese.Models.Sessions;
using Caprese.Models.Transformer;

namespace Caprese.Models.Sparsity;

/// <summary>How far a sparse decode strays from the dense one over the evaluator's sequences.</summary>
/// <param name="Options">The sparsity scored.</param>
/// <param name="MeanKl">Mean KL(dense ‖ sparse) of the next-token distributions, in nats, over all decode positions.</param>
/// <param name="Top1Agreement">Fraction of decode positions where both argmaxes agree (teacher-forced on the dense text).</param>
/// <param name="GreedyAgreement">Fraction of the free-running sparse greedy tokens equal to the dense ones, position by position.</param>
/// <param name="Positions">Decode positions scored.</param>
public sealed record SparsityQuality(SparsityOptions Options, double MeanKl, double Top1Agreement, double GreedyAgreement, int Positions);

/// <summary>
/// Quality of contextual sparsity against the dense model. On construction the dense model greedily continues
/// each prompt by <c>continuation</c> tokens (the held-out sequences) and keeps its next-token logits. A method is
/// then scored teacher-forced: the prompt is prefilled (dense, which calibrates the method unless the options carry a
/// <see cref="SparsityOptions.Calibration"/>), and every decode step
/// is fed the dense continuation; the prefill's own logits are dense for every method and are not scored. Greedy
/// agreement lets the sparse model continue on its own tokens instead.
/// </summary>
public sealed class QualityEvaluator
{
    private readonly TransformerModel _model;
    private readonly int[][] _prompts;
    private readonly int[][] _continuations;
    private readonly List<float[]>[] _denseLogits;

    public QualityEvaluator(TransformerModel model, IReadOnlyList<int[]> prompts, int continuation)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentOutOfRangeException.ThrowIfLessThan(continuation, 2);
        if (prompts.Count == 0 || prompts.Any(p => p.Length == 0 || p.Length + continuation > model.Config.MaxSeqLen))
            throw new ArgumentException($"need non-empty prompts that leave room for {continuation} tokens in the context of {model.Config.MaxSeqLen}", nameof(prompts));
        _model = model;
        _prompts = [.. prompts];
        _continuations = new int[_prompts.Length][];
        _denseLogits = new List<float[]>[_prompts.Length];
        using var dense = model.CreateSession();
        for (int i = 0; i < _prompts.Length; i++)
            (_denseLogits[i], _continuations[i]) = Run(dense, _prompts[i], null, continuation);
    }

    public SparsityQuality Evaluate(SparsityOptions options) => Evaluate(options, null);

    /// <summary>Scores <paramref name="options"/> with <paramref name="adapters"/> (trained for exactly that sparsity) on its decode steps.</summary>
    public SparsityQuality Evaluate(SparsityOptions options, AdapterSet? adapters, AdapterForm form = AdapterForm.Merged)
    {
        ArgumentNullException.ThrowIfNull(options);
        // A session of its own: the model's built-in session (and anyone else's) is left as it is.
        using var session = _model.CreateSession(new FfnPolicy(options, adapters, form));
        {
            double kl = 0;
            int top1 = 0, greedy = 0, positions = 0, greedyTokens = 0;
            for (int i = 0; i < _prompts.Length; i++)
            {
                var (logits, _) = Run(session, _prompts[i], _continuations[i], _continuations[i].Length);
                for (int t = 0; t < logits.Count; t++)
                {
                    kl += KlDivergence(_denseLogits[i][t], logits[t]);
                    top1 += ArgMax(_denseLogits[i][t]) == ArgMax(logits[t]) ? 1 : 0;
                    positions++;
                }
                var (_, own) = Run(session, _prompts[i], null, _continuations[i].Length);
                greedy += own.Zip(_continuations[i]).Count(p => p.First == p.Second);
                greedyTokens += own.Length;
            }
            return new SparsityQuality(options, kl / positions, (double)top1 / positions, (double)greedy / greedyTokens, positions);
        }
    }

    // Prefill, then count - 1 decode steps fed `forced` (or the model's own greedy tokens); returns the decode steps'
    // logits and the count tokens chosen (the first from the prefill).
    private static (List<float[]> Logits, int[] Tokens) Run(DecodeSession session, int[] prompt, int[]? forced, int count)
    {
        var tokens = new int[count];
        var logits = new List<float[]>(count - 1);
        tokens[0] = ArgMax(session.Forward(prompt, 0, ForwardKind.Prefill, ForwardOutputs.LastLogits).Logits(0).ToArray());
        for (int t = 1; t < count; t++)
        {
            int fed = forced?[t - 1] ?? tokens[t - 1];
            var next = session.Forward([fed], prompt.Length + t - 1, ForwardKind.Decode, ForwardOutputs.LastLogits).Logits(0).ToArray();
            logits.Add(next);
            tokens[t] = ArgMax(next);
        }
        return (logits, tokens);
    }

    /// <summary>KL(softmax(p) ‖ softmax(q)) in nats, computed in double.</summary>
    public static double KlDivergence(float[] p, float[] q)
    {
        double[] lp = LogSoftmax(p), lq = LogSoftmax(q);
        double kl = 0;
        for (int i = 0; i < lp.Length; i++)
            kl += Math.Exp(lp[i]) * (lp[i] - lq[i]);
        return Math.Max(0, kl);
    }

    private static double[] LogSoftmax(float[] x)
    {
        double max = x.Max();
        double log = Math.Log(x.Sum(v => Math.Exp(v - max))) + max;
        return [.. x.Select(v => v - log)];
    }

    private static int ArgMax(float[] x) => Array.IndexOf(x, x.Max());
}
