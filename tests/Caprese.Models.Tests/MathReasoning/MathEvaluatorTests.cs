using Caprese.Models.Decoding;
using Caprese.Models.Generation;
using Caprese.Models.MathReasoning;
using Caprese.Models.Sessions;
using Caprese.Models.Sparsity;
using Caprese.Models.Tests.Support;

namespace Caprese.Models.Tests.MathReasoning;

/// <summary>The harness on stories260K: it cannot do arithmetic, but records, determinism, shards and costs are testable.</summary>
public sealed class MathEvaluatorTests
{
    private static readonly MathProblem[] Problems =
    [
        new("Tom has 3 apples and buys 4 more. How many apples does he have?", "3 + 4 = 7\n#### 7"),
        new("Lily had 10 cookies and ate 2. How many are left?", "#### 8"),
        new("A cat sleeps 12 hours a day. How many hours in 2 days?", "#### 24"),
        new("Ben saw 5 birds, then 5 more flew by. How many birds?", "#### 10"),
        new("Sue has $18. She spends half. How much is left?", "#### 9"),
    ];

    private static MathEvaluationOptions Options(int maxTokens = 24) => new(MathPromptFormats.Qa, maxTokens);

    [Fact]
    public void RecordsEveryProblemAndSummarisesThem()
    {
        using var loaded = StoriesModel.LoadStories();
        var reports = new List<MathEvaluationProgress>();
        var evaluator = new MathEvaluator(loaded.Model, loaded.Tokenizer, FfnPolicy.Dense, Options());
        var result = evaluator.Evaluate(Problems, progress: new SynchronousProgress<MathEvaluationProgress>(reports.Add),
            cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal([0, 1, 2, 3, 4], result.Outcomes.Select(o => o.Index));
        Assert.Equal([7m, 8m, 24m, 10m, 9m], result.Outcomes.Select(o => o.Reference));
        foreach (var o in result.Outcomes)
        {
            Assert.InRange(o.GeneratedTokens, 1, 24);
            Assert.Equal(AnswerExtractor.Extract(o.Text), o.Predicted);
            Assert.Equal(AnswerExtractor.Matches(o.Predicted, o.Reference), o.Correct);
            Assert.True(o.PromptTokens > 10 && o.DecodeMilliseconds > 0);
            Assert.Equal(o.GeneratedTokens - 1, o.Decoding.Tokens); // the prefill chose the first
        }
        Assert.Equal(Enumerable.Range(1, 5), reports.Select(r => r.Done));
        Assert.All(reports, r => Assert.Equal(5, r.Total));

        var s = result.Summary;
        Assert.Equal(5, s.Problems);
        Assert.Equal(result.Outcomes.Count(o => o.Correct), s.Correct);
        Assert.InRange(s.Accuracy, s.AccuracyLower, s.AccuracyUpper);
        Assert.Equal(result.Outcomes.Average(o => o.GeneratedTokens), s.MeanGeneratedTokens);
        Assert.Equal(1.0, s.DensePassesPerToken);               // dense decoding: one full pass per token
        Assert.Equal(s.DenseFfnParameters, s.ActiveFfnParametersPerToken);
        Assert.Equal(1.0, s.EffectiveDensity!.Value, 12);
        Assert.True(s.DecodeTokensPerSecond > 0);
    }

    [Fact]
    public void SameSeedSameTextsAndShardsReproduceTheFullRun()
    {
        using var loaded = StoriesModel.LoadStories();
        var ct = TestContext.Current.CancellationToken;
        var options = Options() with { Temperature = 0.9f, Seed = 42 };
        var evaluator = new MathEvaluator(loaded.Model, loaded.Tokenizer, FfnPolicy.Dense, options);
        var first = evaluator.Evaluate(Problems, cancellationToken: ct);
        var second = evaluator.Evaluate(Problems, cancellationToken: ct);
        Assert.Equal(Texts(first.Outcomes), Texts(second.Outcomes));

        // Problem i draws with seed 42 + i whatever else runs: shards and a limit give the same texts.
        var shard0 = evaluator.Evaluate(Problems, new ProblemSelection(ShardIndex: 0, ShardCount: 2), cancellationToken: ct);
        var shard1 = evaluator.Evaluate(Problems, new ProblemSelection(ShardIndex: 1, ShardCount: 2), cancellationToken: ct);
        Assert.Equal([0, 2, 4], shard0.Outcomes.Select(o => o.Index));
        Assert.Equal([1, 3], shard1.Outcomes.Select(o => o.Index));
        Assert.Equal(Texts(first.Outcomes), Texts([.. shard0.Outcomes.Concat(shard1.Outcomes).OrderBy(o => o.Index)]));
        var limited = evaluator.Evaluate(Problems, new ProblemSelection(Limit: 2), cancellationToken: ct);
        Assert.Equal(Texts(first.Outcomes).Take(2), Texts(limited.Outcomes));

        var other = new MathEvaluator(loaded.Model, loaded.Tokenizer, FfnPolicy.Dense, options with { Seed = 43 }).Evaluate(Problems, cancellationToken: ct);
        Assert.NotEqual(Texts(first.Outcomes), Texts(other.Outcomes));
    }

    // Sparse and draft-verify decoding through the harness: their counters reach the summary.
    [Fact]
    public void SparseAndSpeculativeDecodingReportTheirCosts()
    {
        using var loaded = StoriesModel.LoadStories();
        var ct = TestContext.Current.CancellationToken;
        var sparse = new FfnPolicy(new SparsityOptions(SparsityMethod.Griffin, 0.5));
        var plain = new MathEvaluator(loaded.Model, loaded.Tokenizer, sparse, Options()).Evaluate(Problems[..2], cancellationToken: ct).Summary;
        Assert.Equal(0.0, plain.DensePassesPerToken);
        Assert.Null(plain.AverageAdvance);
        Assert.Equal(ActiveFfnParameters.Step(loaded.Config, sparse), plain.ActiveFfnParametersPerToken);
        Assert.True(plain.ActiveFfnParametersPerToken < plain.DenseFfnParameters);

        var dense = new MathEvaluator(loaded.Model, loaded.Tokenizer, FfnPolicy.Dense, Options()).Evaluate(Problems[..2], cancellationToken: ct);
        var spec = new MathEvaluator(loaded.Model, loaded.Tokenizer, sparse, Options() with { Decoding = DraftVerifyDecoding.Speculative(4) })
            .Evaluate(Problems[..2], cancellationToken: ct);
        Assert.Equal(Texts(dense.Outcomes), Texts(spec.Outcomes)); // greedy speculative decoding is the dense text
        Assert.InRange(spec.Summary.DensePassesPerToken!.Value, 0.2, 1.0);
        Assert.InRange(spec.Summary.AverageAdvance!.Value, 1.0, 5.0);
        Assert.True(spec.Summary.Decoding.Drafted > 0);
    }

    [Fact]
    public void APromptTooLongForTheContextIsScoredWrongWithoutStoppingTheRun()
    {
        using var loaded = StoriesModel.LoadStories();
        var longOne = new MathProblem(string.Join(' ', Enumerable.Repeat("Tom has many apples.", 200)), "#### 1");
        var result = new MathEvaluator(loaded.Model, loaded.Tokenizer, FfnPolicy.Dense, Options())
            .Evaluate([longOne, Problems[0]], cancellationToken: TestContext.Current.CancellationToken);
        var skipped = result.Outcomes[0];
        Assert.Equal(StopReason.ContextFull, skipped.StopReason);
        Assert.Equal(0, skipped.GeneratedTokens);
        Assert.False(skipped.Correct);
        Assert.True(result.Outcomes[1].GeneratedTokens > 0);
        Assert.Equal(1, result.Summary.ContextFull);
    }

    [Fact]
    public void CancellationAndAnEmptySelectionAreRefused()
    {
        using var loaded = StoriesModel.LoadStories();
        var evaluator = new MathEvaluator(loaded.Model, loaded.Tokenizer, FfnPolicy.Dense, Options());
        Assert.Throws<OperationCanceledException>(() => evaluator.Evaluate(Problems, cancellationToken: new CancellationToken(canceled: true)));
        Assert.Throws<ArgumentException>(() => evaluator.Evaluate(Problems[..2], new ProblemSelection(ShardIndex: 3, ShardCount: 8),
            cancellationToken: TestContext.Current.CancellationToken));
        Assert.Throws<ArgumentException>(() => evaluator.Evaluate([], cancellationToken: TestContext.Current.CancellationToken));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MathEvaluator(loaded.Model, loaded.Tokenizer, FfnPolicy.Dense, Options(maxTokens: 0)));
    }

    // The summary's arithmetic on hand-made outcomes.
    [Fact]
    public void SummaryCountsAccuracyIntervalMedianAndSpeed()
    {
        using var loaded = StoriesModel.LoadStories();
        MathProblemOutcome Outcome(int i, bool correct, int tokens) => new(i, "", correct ? 1m : null, 1m, correct, 10, tokens, 1, 100,
            StopReason.EndOfSequence, new DecodingStats(tokens - 1, 0, tokens - 1, tokens - 1, 0, 0, 0));
        var outcomes = Enumerable.Range(0, 50).Select(i => Outcome(i, i < 45, i % 2 == 0 ? 11 : 21)).ToList();
        var s = MathEvaluator.Summarise(outcomes, loaded.Config, FfnPolicy.Dense);
        Assert.Equal((50, 45, 0.9), (s.Problems, s.Correct, s.Accuracy));
        Assert.Equal(0.7864, s.AccuracyLower, 4);
        Assert.Equal(0.9565, s.AccuracyUpper, 4);
        Assert.Equal(16.0, s.MeanGeneratedTokens);
        Assert.Equal(16.0, s.MedianGeneratedTokens);
        Assert.Equal(25 * 10 + 25 * 20, s.DecodeTokens);
        Assert.Equal(750 * 1000.0 / 5000, s.DecodeTokensPerSecond!.Value, 9);
        Assert.Null(s.EffectiveDensity); // no model given
    }

    private static IEnumerable<string> Texts(IEnumerable<MathProblemOutcome> outcomes) => outcomes.Select(o => o.Text);
}
