using Caprese.Models.Sessions;
using Caprese.Models.Transformer;

namespace Caprese.Models.Decoding.Judge;

/// <summary>
/// Judge triples without a hand-written file: for a prompt, the good answer is the full (dense) model's greedy
/// continuation and the bad answer the draft policy's (sparse or Caprese) greedy continuation, each of at most
/// <see cref="ContinuationTokens"/> tokens; prompts where the two agree give no triple.
/// </summary>
/// <remarks>
/// A judge trained on these triples learns "the sparse model's deviations from the dense model are bad": it
/// approximates the speculative test itself (accept what the dense model would have chosen) rather than learning which
/// deviations are harmless, so it mostly shows that the pipeline works end to end. The paper-faithful labels, where a
/// deviation that still leads to a correct answer counts as acceptable, come from <see cref="AutomaticJudgeLabeler"/>.
/// Both continuations run as <see cref="Generation.TextGenerator"/>'s greedy plain decoding does: a dense prefill of
/// the prompt chooses the first token, then one decode pass per token (dense, or the draft policy).
/// </remarks>
public sealed class DraftTripleSource : IDisposable
{
    private readonly DecodeSession _dense;
    private readonly DecodeSession _draft;
    private readonly HashSet<int> _stopTokens;

    /// <param name="model">The model; the good answers are its dense greedy continuations.</param>
    /// <param name="draft">The draft's FFN policy (sparse, possibly with Caprese adapters); must not be dense.</param>
    /// <param name="continuationTokens">Tokens per continuation at most (fewer when a stop token or the context end comes first).</param>
    /// <param name="stopTokens">Ids that end a continuation (the tokenizer's EOS ids; not included in the answer).</param>
    /// <exception cref="ArgumentException">The draft policy is dense or does not fit the model.</exception>
    public DraftTripleSource(TransformerModel model, FfnPolicy draft, int continuationTokens, IReadOnlyCollection<int>? stopTokens = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(draft);
        ArgumentOutOfRangeException.ThrowIfLessThan(continuationTokens, 1);
        if (draft.IsDense)
            throw new ArgumentException("the draft policy is dense: it never deviates from the full model (choose a sparsity method)", nameof(draft));
        draft.Validate(model.Config);
        ContinuationTokens = continuationTokens;
        _stopTokens = [.. stopTokens ?? []];
        _dense = model.CreateSession(FfnPolicy.Dense);
        try
        {
            _draft = model.CreateSession(draft);
        }
        catch
        {
            _dense.Dispose();
            throw;
        }
    }

    /// <summary>Tokens per continuation at most.</summary>
    public int ContinuationTokens { get; }

    /// <summary>
    /// The triple for <paramref name="prompt"/> (ids, BOS included when the model uses one), or null when the draft's
    /// greedy continuation equals the dense one (nothing to learn) or the prompt leaves no room in the context.
    /// </summary>
    public JudgeTokenTriple? ForPrompt(int[] prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        if (prompt.Length == 0)
            throw new ArgumentException("the prompt has no tokens", nameof(prompt));
        int[] good = GreedyContinuation(_dense, prompt, ContinuationTokens, _stopTokens);
        int[] bad = GreedyContinuation(_draft, prompt, ContinuationTokens, _stopTokens);
        if (good.Length == 0 || bad.Length == 0 || JudgeLabeler.FirstDeviation(good, bad) == bad.Length)
            return null;
        return new JudgeTokenTriple(prompt, good, bad);
    }

    /// <summary>
    /// <see cref="ForPrompt"/> for every prompt, keeping the triples that exist; <paramref name="progress"/> gets the
    /// number of prompts done.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (between prompts).</exception>
    public List<JudgeTokenTriple> FromPrompts(IEnumerable<int[]> prompts, IProgress<int>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        var triples = new List<JudgeTokenTriple>();
        int done = 0;
        foreach (var prompt in prompts)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (ForPrompt(prompt) is { } triple)
                triples.Add(triple);
            done++;
            progress?.Report(done);
        }
        return triples;
    }

    /// <summary>
    /// The session's greedy continuation of <paramref name="prompt"/>: the prefill's argmax, then one
    /// <see cref="ForwardKind.Decode"/> pass per token (the session's policy), up to <paramref name="maxTokens"/> tokens,
    /// a stop token (not included) or the context end.
    /// </summary>
    internal static int[] GreedyContinuation(DecodeSession session, int[] prompt, int maxTokens, IReadOnlySet<int> stopTokens)
    {
        if (prompt.Length >= session.Config.MaxSeqLen)
            return [];
        // Plain greedy decoding, one token at a time so that a stop token ends it at once.
        var run = PlainDecoding.Instance.Start(session, prompt, TokenChoice.Greedy);
        var tokens = new List<int>(maxTokens) { run.Pending };
        while (!stopTokens.Contains(tokens[^1]) && tokens.Count < maxTokens && session.Length < session.Config.MaxSeqLen)
            run.Advance(tokens, 1);
        if (stopTokens.Contains(tokens[^1]))
            tokens.RemoveAt(tokens.Count - 1);
        return [.. tokens];
    }

    public void Dispose()
    {
        _draft.Dispose();
        _dense.Dispose();
    }
}
