using Caprese.Models.Decoding;
using Caprese.Models.Generation;
using Caprese.Models.Sessions;
using Caprese.Models.Tokenization;
using Caprese.Models.Transformer;

namespace Caprese.Models.MathReasoning;

/// <summary>How an evaluation generates.</summary>
/// <param name="Format">The prompt format.</param>
/// <param name="MaxTokens">Token budget per problem, at least 1.</param>
/// <param name="Temperature">0 = greedy.</param>
/// <param name="TopK">0 = off.</param>
/// <param name="TopP">1 = off.</param>
/// <param name="Seed">Sampling: problem i is generated with seed Seed + i, so a problem's text does not depend on which
/// other problems (shard, limit) run; null = a random seed per problem. Greedy decoding ignores it.</param>
public sealed record MathEvaluationOptions(MathPromptFormat Format, int MaxTokens = 256, float Temperature = 0f, int TopK = 0,
    float TopP = 1f, int? Seed = null)
{
    /// <summary>How tokens are produced; null = one per forward pass (<see cref="PlainDecoding"/>).</summary>
    public IDecodingMethod? Decoding { get; init; }
}

/// <summary>
/// Scores a model on math word problems: each selected problem is prompted in the chosen format and generated with the
/// policy (dense, sparse, Caprese adapters) and decoding method (dense, speculative, Sirius, judge) until EOS, the next
/// "Question:", a complete <c>#### N</c> line or the token budget; the number read from the text is compared with the
/// reference's. Problems run one after another on one <see cref="TextGenerator"/>, in index order.
/// </summary>
public sealed class MathEvaluator
{
    private readonly TransformerModel _model;
    private readonly ITokenizer _tokenizer;
    private readonly FfnPolicy _policy;
    private readonly MathEvaluationOptions _options;
    private readonly TextGenerator _generator;

    /// <param name="model">The model.</param>
    /// <param name="tokenizer">Its tokenizer.</param>
    /// <param name="policy">How decode steps run the FFN (the draft's policy for draft-verify methods).</param>
    /// <param name="options">How to generate.</param>
    /// <exception cref="ArgumentException">The policy does not fit the model, or an option is out of range.</exception>
    public MathEvaluator(TransformerModel model, ITokenizer tokenizer, FfnPolicy policy, MathEvaluationOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(options.Format);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxTokens, 1);
        Generation(options, 0).Validate();
        _model = model;
        _tokenizer = tokenizer;
        _policy = policy;
        _options = options;
        _generator = new TextGenerator(model, tokenizer, policy); // validates the policy against the model
    }

    /// <summary>Runs the selected problems and summarises them.</summary>
    /// <param name="problems">The problems (a file's, in order: outcome indices refer to it).</param>
    /// <param name="selection">Which of them; null = all.</param>
    /// <param name="progress">Told after each problem.</param>
    /// <param name="cancellationToken">Checked before each problem and between decode steps.</param>
    /// <exception cref="ArgumentException">The selection is empty, or a reference answer is not a number.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public MathEvaluation Evaluate(IReadOnlyList<MathProblem> problems, ProblemSelection? selection = null,
        IProgress<MathEvaluationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(problems);
        var indices = (selection ?? ProblemSelection.All).Indices(problems.Count);
        if (indices.Count == 0)
            throw new ArgumentException($"the selection holds no problem (of {problems.Count})", nameof(selection));
        var outcomes = new List<MathProblemOutcome>(indices.Count);
        int correct = 0;
        foreach (int index in indices)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var outcome = Run(problems[index], index, cancellationToken);
            outcomes.Add(outcome);
            correct += outcome.Correct ? 1 : 0;
            progress?.Report(new MathEvaluationProgress(outcomes.Count, indices.Count, correct, outcome));
        }
        return new MathEvaluation(outcomes, Summarise(outcomes, _model.Config, _policy, _model));
    }

    private MathProblemOutcome Run(MathProblem problem, int index, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(problem);
        decimal reference = AnswerExtractor.ParseNumber(problem.FinalAnswerText)
            ?? throw new ArgumentException($"problem {index}: the reference answer has no number after \"{MathProblem.FinalAnswerMarker}\"");
        string prompt = _options.Format.Prompt(problem.Question);
        int promptTokens = _tokenizer.Encode(prompt, addBos: true).Length;
        if (promptTokens >= _model.Config.MaxSeqLen)
        {
            // Too long for this model's context: scored as wrong, not an error that stops the run.
            return new MathProblemOutcome(index, "", null, reference, false, promptTokens, 0, 0, 0, StopReason.ContextFull, default);
        }
        var result = _generator.Generate(prompt, Generation(_options, index), ct);
        var s = result.Stats;
        decimal? predicted = AnswerExtractor.Extract(result.Text);
        return new MathProblemOutcome(index, result.Text, predicted, reference, AnswerExtractor.Matches(predicted, reference),
            s.PromptTokenCount, s.GeneratedTokenCount, s.PrefillMilliseconds, s.DecodeMilliseconds, s.StopReason, s.Decoding);
    }

    private static GenerationOptions Generation(MathEvaluationOptions o, int index) =>
        new(o.MaxTokens, o.Temperature, o.TopK, o.TopP, o.Seed is { } seed ? unchecked(seed + index) : null, MathPromptFormat.StopStrings)
        {
            Decoding = o.Decoding,
            StopWhen = AnswerExtractor.HasCompleteFinalAnswer,
        };

    /// <summary>The summary of <paramref name="outcomes"/> (non-empty) decoded with <paramref name="policy"/> on a model of <paramref name="config"/>.</summary>
    /// <param name="outcomes">The problems' outcomes.</param>
    /// <param name="config">The model's shape (for FFN parameter counts).</param>
    /// <param name="policy">The decode (draft) policy.</param>
    /// <param name="model">The model, for its weight type in <see cref="MathEvaluationSummary.EffectiveDensity"/>; null leaves that null.</param>
    public static MathEvaluationSummary Summarise(IReadOnlyList<MathProblemOutcome> outcomes, ModelConfig config, FfnPolicy policy,
        TransformerModel? model = null)
    {
        ArgumentNullException.ThrowIfNull(outcomes);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(policy);
        if (outcomes.Count == 0)
            throw new ArgumentException("no outcomes to summarise", nameof(outcomes));
        int n = outcomes.Count, correct = outcomes.Count(o => o.Correct);
        var (lower, upper) = WilsonInterval.Compute(correct, n);
        var decoding = outcomes.Aggregate(default(DecodingStats), (sum, o) => sum + o.Decoding);
        // The tokens decode/s counts, as GenerationStats.DecodeTokens: the method's count (plain decoding counts one per step).
        long decodeTokens = decoding.Tokens;
        double decodeMs = outcomes.Sum(o => o.DecodeMilliseconds);
        return new MathEvaluationSummary(
            n, correct, (double)correct / n, lower, upper,
            outcomes.Average(o => (double)o.GeneratedTokens), Median(outcomes.Select(o => (double)o.GeneratedTokens)),
            outcomes.Count(o => o.StopReason == StopReason.ContextFull),
            decodeTokens, decodeMs, decodeMs > 0 ? decodeTokens * 1000.0 / decodeMs : null,
            decoding,
            decoding.Tokens > 0 ? (double)decoding.DensePasses / decoding.Tokens : null,
            decoding.DensePasses > 0 ? decoding.AverageAdvance : null,
            ActiveFfnParameters.PerToken(decoding, config, policy), ActiveFfnParameters.DenseStep(config),
            model is not null && decoding.Tokens > 0 ? decoding.EffectiveDensity(model, policy) : null);
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }
}
