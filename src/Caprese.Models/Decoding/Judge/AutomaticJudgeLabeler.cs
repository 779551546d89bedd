using System.Globalization;
using Caprese.Models.Sessions;
using Caprese.Models.Tokenization;
using Caprese.Models.Transformer;

namespace Caprese.Models.Decoding.Judge;

/// <summary>How <see cref="AutomaticJudgeLabeler"/> bounds its work.</summary>
/// <param name="ContinuationTokens">
/// The answer budget: tokens generated after the prompt at most, both along the draft and in each dense continuation
/// that decides a deviation (fewer when an EOS id or the context end comes first).
/// </param>
/// <param name="MaxDeviationsPerPrompt">
/// Deviations labelled per prompt at most. Each costs one dense continuation and one checker call; a prompt that
/// reaches the cap stops there (its remaining tokens are not labelled).
/// </param>
public sealed record AutomaticLabelingOptions(int ContinuationTokens = 64, int MaxDeviationsPerPrompt = 8)
{
    /// <exception cref="ArgumentOutOfRangeException">A setting is below 1.</exception>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(ContinuationTokens, 1, nameof(ContinuationTokens));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxDeviationsPerPrompt, 1, nameof(MaxDeviationsPerPrompt));
    }
}

/// <summary>One drafted token the dense model would not have chosen, and the checker's verdict on continuing from it.</summary>
/// <param name="PromptIndex">Which prompt (0-based, in the order given).</param>
/// <param name="AnswerIndex">Where the drafted token stands in the answer (0 = the first token after the prompt).</param>
/// <param name="Drafted">The draft's token.</param>
/// <param name="DenseChoice">The dense model's greedy token at that place.</param>
/// <param name="Completion">
/// The text the checker saw: the answer up to the drafted token, the drafted token, then the dense model's greedy
/// continuation to the budget or EOS (EOS not included).
/// </param>
/// <param name="Acceptable">The checker's verdict, which is the token's label.</param>
public sealed record JudgeDeviation(int PromptIndex, int AnswerIndex, int Drafted, int DenseChoice, string Completion, bool Acceptable);

/// <summary>What <see cref="AutomaticJudgeLabeler.Label"/> produced.</summary>
/// <param name="Examples">One example per labelled drafted token, prompt by prompt, in answer order.</param>
/// <param name="Deviations">The labelled deviations (one checker call each), in the same order.</param>
/// <param name="Answers">
/// Per prompt, the answer tokens the walk produced (EOS excluded): what judge decoding with a perfect judge would emit,
/// since acceptable deviations are kept and unacceptable ones replaced by the dense choice.
/// </param>
/// <param name="AgreeingTokens">Drafted tokens equal to the dense choice (labelled acceptable without a check).</param>
/// <param name="PromptsCutShort">Prompts that stopped at <see cref="AutomaticLabelingOptions.MaxDeviationsPerPrompt"/>.</param>
public sealed record AutomaticLabels(
    IReadOnlyList<JudgeExample> Examples,
    IReadOnlyList<JudgeDeviation> Deviations,
    IReadOnlyList<int[]> Answers,
    int AgreeingTokens,
    int PromptsCutShort)
{
    /// <summary>Checker calls made: one per deviation.</summary>
    public int CheckerCalls => Deviations.Count;
}

/// <summary>
/// Judge labels from a correctness check instead of hand-written bad answers, as the judge-decoding paper intends: a
/// drafted token the dense model would not have chosen is acceptable if continuing from it still reaches a correct
/// answer. For each prompt the labeler walks the draft greedily, one token at a time:
/// <list type="number">
/// <item>the draft policy proposes the next token (a <see cref="ForwardKind.Decode"/> pass);</item>
/// <item>one dense <see cref="ForwardKind.Verify"/> pass over [previous token, drafted token] gives the dense model's
/// choice at that place and its final hidden state at the drafted token's own row, the judge's feature (and rewrites the
/// keys with the full model's, as judge decoding's verification does);</item>
/// <item>a drafted token equal to the dense choice is labelled acceptable (the speculative test keeps it anyway, and the
/// paper labels every token of a good answer acceptable);</item>
/// <item>a different one is a deviation: the dense model continues greedily from it to the budget or EOS, the
/// <see cref="IAnswerChecker"/> judges prompt + completion, and the verdict is the token's label. The walk then goes on
/// as decoding with a perfect judge would: an acceptable deviation is kept, an unacceptable one replaced by the dense
/// choice.</item>
/// </list>
/// The first answer token comes from the dense prefill (decoding never drafts it) and is not labelled. Cost per prompt:
/// two passes per answer token plus, per deviation, one dense continuation and one checker call, with at most
/// <see cref="AutomaticLabelingOptions.MaxDeviationsPerPrompt"/> deviations.
/// </summary>
/// <remarks>
/// The checker is the plug point for the evaluation work (an arithmetic checker first); it sees the prompt text and the
/// decoded completion only, so any <see cref="IAnswerChecker"/> works unchanged. It should be deterministic.
/// </remarks>
public sealed class AutomaticJudgeLabeler
{
    private readonly TransformerModel _model;
    private readonly ITokenizer _tokenizer;
    private readonly FfnPolicy _draft;
    private readonly IAnswerChecker _checker;
    private readonly AutomaticLabelingOptions _options;
    private readonly HashSet<int> _stopTokens;

    /// <param name="model">The model (dense = the target; <paramref name="draft"/> = the draft).</param>
    /// <param name="tokenizer">Its tokenizer: prompts are encoded with BOS, completions decoded for the checker; its EOS ids end answers.</param>
    /// <param name="draft">The draft's FFN policy (sparse or Caprese); must not be dense.</param>
    /// <param name="checker">Decides whether a completion is correct.</param>
    /// <param name="options">Budget and cap.</param>
    /// <exception cref="ArgumentException">The draft policy is dense or does not fit the model.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public AutomaticJudgeLabeler(TransformerModel model, ITokenizer tokenizer, FfnPolicy draft, IAnswerChecker checker, AutomaticLabelingOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(draft);
        ArgumentNullException.ThrowIfNull(checker);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (draft.IsDense)
            throw new ArgumentException("the draft policy is dense: it never deviates from the full model (choose a sparsity method)", nameof(draft));
        draft.Validate(model.Config);
        _model = model;
        _tokenizer = tokenizer;
        _draft = draft;
        _checker = checker;
        _options = options;
        _stopTokens = [.. tokenizer.EosIds];
    }

    /// <summary>Labels drafted tokens along every prompt; <paramref name="progress"/> gets the number of prompts done.</summary>
    /// <exception cref="ArgumentException">A prompt does not fit in the model's context.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (checked every token).</exception>
    public AutomaticLabels Label(IReadOnlyList<string> prompts, IProgress<int>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        var examples = new List<JudgeExample>();
        var deviations = new List<JudgeDeviation>();
        var answers = new List<int[]>(prompts.Count);
        int agreeing = 0, cutShort = 0;
        using var session = _model.CreateSession(_draft);
        using var dense = _model.CreateSession(FfnPolicy.Dense);
        for (int i = 0; i < prompts.Count; i++)
        {
            var walk = new Walk(this, session, dense, i, prompts[i] ?? throw new ArgumentException($"prompt {i} is null", nameof(prompts)));
            walk.Run(examples, deviations, cancellationToken);
            answers.Add(walk.Answer);
            agreeing += walk.Agreeing;
            cutShort += walk.CutShort ? 1 : 0;
            progress?.Report(i + 1);
        }
        return new AutomaticLabels(examples, deviations, answers, agreeing, cutShort);
    }

    /// <summary>One prompt's walk along the draft.</summary>
    private sealed class Walk(AutomaticJudgeLabeler owner, DecodeSession session, DecodeSession dense, int promptIndex, string prompt)
    {
        private readonly List<int> _answer = [];

        public int[] Answer => [.. _answer.Where(t => !owner._stopTokens.Contains(t))];
        public int Agreeing { get; private set; }
        public bool CutShort { get; private set; }

        public void Run(List<JudgeExample> examples, List<JudgeDeviation> deviations, CancellationToken ct)
        {
            int[] promptIds = owner._tokenizer.Encode(prompt, addBos: true);
            int context = session.Config.MaxSeqLen, budget = owner._options.ContinuationTokens;
            if (promptIds.Length == 0)
                throw new ArgumentException($"prompt {promptIndex} has no tokens", nameof(prompt));
            if (promptIds.Length >= context)
                throw new ArgumentException($"prompt {promptIndex.ToString(CultureInfo.InvariantCulture)} has {promptIds.Length} tokens; the model's context holds {context}", nameof(prompt));
            ct.ThrowIfCancellationRequested();

            var sequence = new List<int>(promptIds);
            // The first answer token is the dense prefill's, as in decoding: nothing drafted, nothing to label.
            int first = session.Forward(promptIds, 0, ForwardKind.Prefill, ForwardOutputs.LastArgmax).Argmax(0);
            sequence.Add(first);
            _answer.Add(first);
            int labelled = 0;
            var verify = new ForwardOutputs(OutputRows.All, Logits: false, Argmax: true, Hidden: true);
            // Two rows (previous token, drafted token) must fit: positions up to sequence.Count.
            while (!owner._stopTokens.Contains(sequence[^1]) && _answer.Count < budget && sequence.Count < context)
            {
                ct.ThrowIfCancellationRequested();
                int position = sequence.Count - 1, previous = sequence[^1];
                int drafted = session.Forward([previous], position, ForwardKind.Decode, ForwardOutputs.LastArgmax).Argmax(0);
                var check = session.Forward([previous, drafted], position, ForwardKind.Verify, verify);
                int denseChoice = check.Argmax(0);
                float[] hidden = check.Hidden(1).ToArray();
                int next = drafted;
                if (drafted == denseChoice)
                {
                    examples.Add(new JudgeExample(hidden, Acceptable: true));
                    Agreeing++;
                }
                else
                {
                    if (labelled == owner._options.MaxDeviationsPerPrompt)
                    {
                        CutShort = true;
                        break;
                    }
                    labelled++;
                    string completion = Completion(sequence, drafted, budget - _answer.Count - 1, context);
                    bool acceptable = owner._checker.IsCorrect(prompt, completion);
                    examples.Add(new JudgeExample(hidden, acceptable));
                    deviations.Add(new JudgeDeviation(promptIndex, _answer.Count, drafted, denseChoice, completion, acceptable));
                    // Decoding with a perfect judge keeps an acceptable draft and puts the full model's token in place of another.
                    next = acceptable ? drafted : denseChoice;
                }
                sequence.Add(next);
                _answer.Add(next);
            }
        }

        // The answer so far, the drafted token, then the dense greedy continuation of `remaining` tokens at most.
        private string Completion(List<int> sequence, int drafted, int remaining, int context)
        {
            var tokens = new List<int>(_answer) { drafted };
            if (!owner._stopTokens.Contains(drafted) && remaining > 0 && sequence.Count + 1 < context)
                tokens.AddRange(DraftTripleSource.GreedyContinuation(dense, [.. sequence, drafted], remaining, owner._stopTokens));
            tokens.RemoveAll(owner._stopTokens.Contains);
            return owner._tokenizer.Decode(tokens.ToArray());
        }
    }
}
