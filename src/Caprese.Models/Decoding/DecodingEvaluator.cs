using System.Diagnostics;
using Caprese.Models.Sessions;
using Caprese.Models.Transformer;

namespace Caprese.Models.Decoding;

/// <summary>One configuration an evaluation scores: a decode policy (the draft for draft-verify methods) and a method.</summary>
/// <param name="Label">The row's name in tables ("sparse", "speculative (caprese draft)", ...).</param>
/// <param name="Policy">How decode passes run the FFN.</param>
/// <param name="Method">How tokens are produced.</param>
public sealed record DecodingCandidate(string Label, FfnPolicy Policy, IDecodingMethod Method);

/// <summary>How a decoding configuration compares with dense greedy decoding over the evaluator's prompts.</summary>
/// <param name="Label">The candidate's label.</param>
/// <param name="GreedyAgreement">Fraction of generated positions whose token equals dense greedy decoding's, position by position.</param>
/// <param name="ExactSequences">Prompts whose whole continuation equals dense greedy decoding's.</param>
/// <param name="DenseNll">Mean negative log-likelihood (nats per token) the full model assigns to the generated continuations.</param>
/// <param name="Stats">The method's counters summed over the prompts.</param>
/// <param name="EffectiveDensity">Weight bytes read per generated token relative to dense decoding.</param>
/// <param name="TokensPerSecond">Tokens chosen after the prefill per second of decoding (this machine, this run).</param>
/// <param name="Prompts">Prompts scored.</param>
public sealed record DecodingQuality(string Label, double GreedyAgreement, int ExactSequences, double DenseNll, DecodingStats Stats,
    double EffectiveDensity, double TokensPerSecond, int Prompts);

/// <summary>
/// Scores decoding methods against dense greedy decoding on held-out prompts: each candidate continues every prompt
/// greedily by the same number of tokens; agreement is counted position by position against the dense continuation,
/// the full model's negative log-likelihood of the candidate's text measures how far it strays in the full model's eyes
/// (dense greedy has the baseline value), and the method's counters give tokens per dense pass and effective density.
/// Per-token KL to the dense distribution is <see cref="Sparsity.QualityEvaluator"/>'s (it needs one distribution per
/// step, which draft-verify methods do not have).
/// </summary>
public sealed class DecodingEvaluator
{
    private readonly TransformerModel _model;
    private readonly int[][] _prompts;
    private readonly int[][] _dense;
    private readonly int _tokens;

    /// <param name="model">The model.</param>
    /// <param name="prompts">Prompt token ids (with BOS), each leaving room for <paramref name="tokens"/> more.</param>
    /// <param name="tokens">Tokens generated per prompt, at least 2.</param>
    public DecodingEvaluator(TransformerModel model, IReadOnlyList<int[]> prompts, int tokens)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentOutOfRangeException.ThrowIfLessThan(tokens, 2);
        if (prompts.Count == 0 || prompts.Any(p => p.Length == 0 || p.Length + tokens > model.Config.MaxSeqLen))
            throw new ArgumentException($"need non-empty prompts that leave room for {tokens} tokens in the context of {model.Config.MaxSeqLen}", nameof(prompts));
        _model = model;
        _prompts = [.. prompts];
        _tokens = tokens;
        var reference = new DecodingCandidate("dense", FfnPolicy.Dense, PlainDecoding.Instance);
        _dense = [.. _prompts.Select(p => Generate(reference, p, out _, out _))];
    }

    /// <summary>Dense greedy continuations, one per prompt.</summary>
    public IReadOnlyList<int[]> DenseContinuations => _dense;

    public DecodingQuality Evaluate(DecodingCandidate candidate, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(candidate);
        int agree = 0, positions = 0, exact = 0;
        double nll = 0, seconds = 0;
        var stats = new DecodingStats();
        for (int i = 0; i < _prompts.Length; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var tokens = Generate(candidate, _prompts[i], out var runStats, out double runSeconds);
            stats += runStats;
            seconds += runSeconds;
            int same = tokens.Zip(_dense[i]).Count(p => p.First == p.Second);
            agree += same;
            positions += tokens.Length;
            exact += tokens.SequenceEqual(_dense[i]) ? 1 : 0;
            nll += DenseNll(_prompts[i], tokens);
        }
        return new DecodingQuality(candidate.Label, (double)agree / positions, exact, nll / positions, stats,
            stats.EffectiveDensity(_model, candidate.Policy), seconds > 0 ? stats.Tokens / seconds : 0, _prompts.Length);
    }

    // Greedy continuation of exactly _tokens tokens (EOS is an ordinary token here, so every candidate covers the same positions).
    private int[] Generate(DecodingCandidate candidate, int[] prompt, out DecodingStats stats, out double seconds)
    {
        using var session = _model.CreateSession(candidate.Policy);
        var run = candidate.Method.Start(session, prompt, TokenChoice.Greedy);
        var tokens = new List<int>(_tokens) { run.Pending };
        var clock = Stopwatch.StartNew();
        while (tokens.Count < _tokens)
            run.Advance(tokens, _tokens - tokens.Count);
        seconds = clock.Elapsed.TotalSeconds;
        stats = run.Stats;
        return [.. tokens];
    }

    // −log p_dense(token) summed over the continuation, teacher-forced in one dense pass.
    private double DenseNll(int[] prompt, int[] continuation)
    {
        using var session = _model.CreateSession();
        int[] all = [.. prompt, .. continuation];
        var r = session.Forward(all, 0, ForwardKind.Prefill, new ForwardOutputs(OutputRows.All));
        double sum = 0;
        for (int i = 0; i < continuation.Length; i++)
            sum -= TokenDistribution.LogProbability(r.Logits(prompt.Length - 1 + i), continuation[i]);
        return sum;
    }
}
