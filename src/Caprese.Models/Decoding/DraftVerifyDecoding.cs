using Caprese.Models.Sessions;
using Caprese.Models.Sparsity;

namespace Caprese.Models.Decoding;

/// <summary>
/// The draft-then-verify loop shared by speculative decoding, Sirius and judge decoding. The session's policy (sparse or
/// Caprese) drafts γ tokens one decode pass each; one dense <see cref="ForwardKind.Verify"/> pass over the pending token
/// and the γ drafts rewrites their keys and values with the full model's and gives its distribution after each; the
/// method's <see cref="IAcceptanceRule"/> keeps the longest acceptable prefix, the full model's own token replaces the
/// first rejected draft (or follows the last one when all are kept), and the session rolls back past the rejected ones.
/// Draft and target are one session over one set of weights, so the draft always continues from the full model's keys.
/// </summary>
/// <remarks>
/// Greedy runs choose every token with the backend's argmax (4 bytes per row reach the host unless the rule needs the
/// logits); sampled runs bring each row's logits to the host and draw with a <see cref="Random"/> seeded from
/// <see cref="TokenChoice.Seed"/>, so they are reproducible for a seed but draw differently from <see cref="PlainDecoding"/>.
/// </remarks>
public sealed class DraftVerifyDecoding : IDecodingMethod
{
    /// <summary>The longest draft: the verification pass then covers 17 rows.</summary>
    public const int MaxDraftLength = DecodeSession.MaxDecodeRows;

    private readonly IAcceptanceRule _rule;

    internal DraftVerifyDecoding(string name, int draftLength, IAcceptanceRule rule)
    {
        if (draftLength < 1 || draftLength > MaxDraftLength)
            throw new ArgumentOutOfRangeException(nameof(draftLength), draftLength, $"the draft length must be in 1..{MaxDraftLength}");
        Name = name;
        DraftLength = draftLength;
        _rule = rule;
    }

    public string Name { get; }

    /// <summary>Tokens drafted per verification pass (γ; Sirius's kernel size).</summary>
    public int DraftLength { get; }

    /// <summary>Speculative decoding: the output distribution is the full model's (greedy: its exact greedy text).</summary>
    public static DraftVerifyDecoding Speculative(int draftLength = 8) => new("speculative", draftLength, new SpeculativeRule());

    /// <summary>
    /// Sirius: drafts of <paramref name="kernelSize"/> tokens; a draft is kept while the full model gives it probability
    /// ≥ <paramref name="threshold"/> (at temperature 1 for greedy runs, under the sampling settings otherwise).
    /// </summary>
    public static DraftVerifyDecoding Sirius(int kernelSize = 16, double threshold = 0.1)
    {
        if (!(threshold > 0 && threshold <= 1))
            throw new ArgumentOutOfRangeException(nameof(threshold), threshold, "the Sirius threshold must be in (0, 1]");
        return new("sirius", kernelSize, new SiriusRule(threshold));
    }

    /// <summary>
    /// Judge decoding: a draft is kept when the speculative test accepts it or <paramref name="judge"/> gives it
    /// probability &gt; <paramref name="judgeThreshold"/> from the full model's hidden state at the drafted token.
    /// </summary>
    public static DraftVerifyDecoding Judge(Judge.JudgeHead judge, double judgeThreshold = 0.5, int draftLength = 8)
    {
        ArgumentNullException.ThrowIfNull(judge);
        if (!(judgeThreshold >= 0 && judgeThreshold < 1))
            throw new ArgumentOutOfRangeException(nameof(judgeThreshold), judgeThreshold, "the judge threshold must be in [0, 1)");
        return new("judge", draftLength, new JudgeRule(judge, judgeThreshold));
    }

    public IDecodingRun Start(DecodeSession session, ReadOnlySpan<int> prompt, TokenChoice choice)
    {
        ArgumentNullException.ThrowIfNull(session);
        var sparsity = session.Policy.Sparsity;
        if (sparsity.Method == SparsityMethod.Griffin && sparsity.GriffinReselectEvery > 0)
            throw new ArgumentException(
                $"{Name} decoding rolls the draft back after rejections, which GRIFFIN's re-selection (ρ = {sparsity.GriffinReselectEvery}) " +
                "cannot follow: use ρ = 0 for the draft", nameof(session));
        _rule.CheckModel(session.Config);
        return new Run(this, session, prompt, choice);
    }

    private sealed class Run : IDecodingRun
    {
        private readonly DraftVerifyDecoding _method;
        private readonly DecodeSession _session;
        private readonly TokenChoice _choice;
        private readonly Random? _random;
        private readonly int _vocab;
        private DecodingStats _stats;

        public Run(DraftVerifyDecoding method, DecodeSession session, ReadOnlySpan<int> prompt, TokenChoice choice)
        {
            _method = method;
            _session = session;
            _choice = choice;
            _vocab = session.Config.Vocab;
            _random = choice.IsGreedy ? null : new Random(unchecked((int)choice.Seed ^ (int)(choice.Seed >> 32)));
            var first = session.Forward(prompt, 0, ForwardKind.Prefill,
                choice.IsGreedy ? ForwardOutputs.LastArgmax : ForwardOutputs.LastLogits);
            Pending = choice.IsGreedy ? first.Argmax(0) : Draw(first.Logits(0));
        }

        public int Pending { get; private set; }
        public DecodingStats Stats => _stats;

        public int Advance(List<int> tokens, int maxTokens)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(maxTokens, 1);
            int p0 = _session.Length, room = _session.Config.MaxSeqLen - p0;
            if (room <= 0)
                throw new InvalidOperationException($"the context of {_session.Config.MaxSeqLen} positions is full");
            int gamma = Math.Min(_method.DraftLength, Math.Min(maxTokens - 1, room - 1));

            // Draft: γ decode passes of the session's policy from the pending token.
            var drafted = new int[gamma];
            var draftProbs = _choice.IsGreedy ? null : new float[gamma][];
            int token = Pending;
            for (int i = 0; i < gamma; i++)
            {
                var r = _session.Forward([token], p0 + i, ForwardKind.Decode,
                    _choice.IsGreedy ? ForwardOutputs.LastArgmax : ForwardOutputs.LastLogits);
                if (draftProbs is null)
                    token = r.Argmax(0);
                else
                {
                    draftProbs[i] = Distribution(r.Logits(0));
                    token = TokenDistribution.Sample(draftProbs[i], _random!.NextDouble());
                }
                drafted[i] = token;
            }

            // Verify: the full model over [pending, d1 .. dγ]; row i predicts the token after row i's.
            var rows = new int[gamma + 1];
            rows[0] = Pending;
            drafted.CopyTo(rows, 1);
            var dense = _session.Forward(rows, p0, ForwardKind.Verify, new ForwardOutputs(OutputRows.All,
                Logits: !_choice.IsGreedy || _rule.NeedsDenseLogits, Argmax: _choice.IsGreedy, Hidden: _rule.NeedsHidden));
            var block = new VerifyBlock(_choice, drafted, draftProbs, dense, _random, Distribution);

            var (kept, next, byJudge) = Decide(_rule, block);

            _session.Rollback(p0 + kept + 1);
            for (int i = 0; i < kept; i++)
                tokens.Add(drafted[i]);
            tokens.Add(next);
            Pending = next;
            _stats += new DecodingStats(kept + 1, gamma, 1, gamma + 1, gamma, kept, byJudge);
            return kept + 1;
        }

        private IAcceptanceRule _rule => _method._rule;

        private float[] Distribution(ReadOnlySpan<float> logits)
        {
            var probs = new float[_vocab];
            TokenDistribution.FromLogits(logits, _choice.Temperature, _choice.TopK, _choice.TopP, probs);
            return probs;
        }

        private int Draw(ReadOnlySpan<float> logits) => TokenDistribution.Sample(Distribution(logits), _random!.NextDouble());
    }

    /// <summary>
    /// The drafts a rule keeps, in order, until its first rejection; then the full model's token in place of the
    /// rejected draft, or after the last one when every draft is kept. Uniforms are drawn in the order of
    /// <see cref="SpeculativeAcceptance.Verify(ReadOnlySpan{int}, ReadOnlySpan{float}, ReadOnlySpan{float}, Func{double}, Span{float})"/>
    /// (one per test, then one for the replacement or the bonus), which the speculative rule is tested against.
    /// </summary>
    internal static (int Kept, int Next, int ByJudgeOnly) Decide(IAcceptanceRule rule, VerifyBlock block)
    {
        int gamma = block.Drafted.Length, byJudge = 0;
        for (int kept = 0; kept < gamma; kept++)
        {
            var verdict = rule.Check(block, kept);
            if (!verdict.Accept)
                return (kept, rule.Replacement(block, kept), byJudge);
            byJudge += verdict.ByJudgeOnly ? 1 : 0;
        }
        return (gamma, block.DenseChoice(gamma), byJudge); // every draft kept: the full model's token after the last one
    }
}

/// <summary>One verification pass as an acceptance rule sees it. Drafted token i (0-based) is judged by dense row i.</summary>
internal sealed class VerifyBlock
{
    private readonly float[]?[] _denseProbs;
    private readonly Func<ReadOnlySpan<float>, float[]> _distribution;

    public VerifyBlock(TokenChoice choice, int[] drafted, float[][]? draftProbs, ForwardResult dense, Random? random,
        Func<ReadOnlySpan<float>, float[]> distribution)
    {
        Choice = choice;
        Drafted = drafted;
        DraftProbs = draftProbs;
        Dense = dense;
        Random = random;
        _distribution = distribution;
        _denseProbs = new float[]?[dense.Rows];
    }

    public TokenChoice Choice { get; }
    public int[] Drafted { get; }

    /// <summary>The draft's sampling distribution of each drafted token (sampled runs only).</summary>
    public float[][]? DraftProbs { get; }

    /// <summary>The verification pass: γ + 1 rows.</summary>
    public ForwardResult Dense { get; }

    public Random? Random { get; }

    /// <summary>The full model's sampling distribution after row <paramref name="row"/> (sampled runs).</summary>
    public float[] DenseProbs(int row) => _denseProbs[row] ??= _distribution(Dense.Logits(row));

    /// <summary>The full model's own choice after row <paramref name="row"/>: its argmax, or a draw from its distribution.</summary>
    public int DenseChoice(int row) =>
        Choice.IsGreedy ? Dense.Argmax(row) : TokenDistribution.Sample(DenseProbs(row), Random!.NextDouble());
}

/// <summary>What a draft-verify method keeps: <see cref="Check"/> decides on drafted token i, <see cref="Replacement"/> replaces the first rejected one.</summary>
internal interface IAcceptanceRule
{
    bool NeedsDenseLogits { get; }
    bool NeedsHidden { get; }
    void CheckModel(Transformer.ModelConfig config);
    (bool Accept, bool ByJudgeOnly) Check(VerifyBlock block, int i);
    int Replacement(VerifyBlock block, int i);
}

/// <summary>The exact speculative rule: greedy keeps drafts equal to the full model's argmax; sampling accepts with min(1, p/q) and resamples from max(0, p − q).</summary>
internal class SpeculativeRule : IAcceptanceRule
{
    public virtual bool NeedsDenseLogits => false;
    public virtual bool NeedsHidden => false;
    public virtual void CheckModel(Transformer.ModelConfig config) { }

    public virtual (bool Accept, bool ByJudgeOnly) Check(VerifyBlock block, int i) => (SpeculativeAccepts(block, i), false);

    protected static bool SpeculativeAccepts(VerifyBlock block, int i) => block.Choice.IsGreedy
        ? block.Drafted[i] == block.Dense.Argmax(i)
        : SpeculativeAcceptance.Accept(block.DenseProbs(i), block.DraftProbs![i], block.Drafted[i], block.Random!.NextDouble());

    public int Replacement(VerifyBlock block, int i)
    {
        if (block.Choice.IsGreedy)
            return block.Dense.Argmax(i);
        var scratch = new float[block.Dense.Vocab];
        return SpeculativeAcceptance.Resample(block.DenseProbs(i), block.DraftProbs![i], block.Random!.NextDouble(), scratch);
    }
}

/// <summary>Sirius: keep a draft while the full model's probability of it is at least the threshold; replace the first other one by the full model's choice.</summary>
internal sealed class SiriusRule(double threshold) : IAcceptanceRule
{
    public bool NeedsDenseLogits => true;
    public bool NeedsHidden => false;
    public void CheckModel(Transformer.ModelConfig config) { }

    public (bool Accept, bool ByJudgeOnly) Check(VerifyBlock block, int i)
    {
        int token = block.Drafted[i];
        double p = block.Choice.IsGreedy ? Math.Exp(TokenDistribution.LogProbability(block.Dense.Logits(i), token)) : block.DenseProbs(i)[token];
        return (p >= threshold, false);
    }

    public int Replacement(VerifyBlock block, int i) => block.DenseChoice(i);
}

/// <summary>Judge decoding: the speculative test, or the judge head's probability above its threshold, keeps a draft.</summary>
internal sealed class JudgeRule(Judge.JudgeHead judge, double threshold) : SpeculativeRule
{
    public override bool NeedsHidden => true;

    public override void CheckModel(Transformer.ModelConfig config)
    {
        if (judge.Dim != config.Dim)
            throw new ArgumentException($"the judge head reads {judge.Dim}-wide hidden states, the model's are {config.Dim}");
    }

    public override (bool Accept, bool ByJudgeOnly) Check(VerifyBlock block, int i)
    {
        if (SpeculativeAccepts(block, i))
            return (true, false);
        // Row i + 1 is the drafted token's own row: the full model's state after reading it.
        bool judged = judge.Probability(block.Dense.Hidden(i + 1)) > threshold;
        return (judged, judged);
    }
}
