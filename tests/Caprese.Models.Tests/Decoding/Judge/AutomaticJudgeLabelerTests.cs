using Caprese.Models.Decoding.Judge;
using Caprese.Models.Generation;
using Caprese.Models.Sessions;
using Caprese.Models.Tests.Support;
using static Caprese.Models.Tests.Decoding.Judge.JudgeDatasetTests;

namespace Caprese.Models.Tests.Decoding.Judge;

/// <summary>Automatic labels on stories260K with deterministic fake checkers.</summary>
public sealed class AutomaticJudgeLabelerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Correct iff the completion contains a word (or always / never); records every call.</summary>
    private sealed class FakeChecker(Func<string, bool> verdict) : IAnswerChecker
    {
        public List<(string Prompt, string Completion)> Calls { get; } = [];

        public bool IsCorrect(string prompt, string completion)
        {
            Calls.Add((prompt, completion));
            return verdict(completion);
        }

        public static FakeChecker ContainsWord(string word) => new(c => c.Contains(word, StringComparison.Ordinal));
    }

    // Every deviation's completion is the answer so far + the drafted token + the dense greedy continuation (recomputed
    // here by full re-prefills), its label is the checker's verdict on it, and the walk keeps acceptable drafts and
    // replaces the others by the dense choice.
    [Fact]
    public void DeviationsAreLabelledByTheCheckerOnTheDenseContinuation()
    {
        using var loaded = StoriesModel.LoadStories();
        var tokenizer = loaded.Tokenizer;
        const int budget = 32;
        var checker = FakeChecker.ContainsWord(" ball");
        var labeler = new AutomaticJudgeLabeler(loaded.Model, tokenizer, Griffin(loaded, 0.8), checker, new AutomaticLabelingOptions(budget, 4));
        var labels = labeler.Label(Prompts, cancellationToken: Ct);

        Assert.Equal(labels.Deviations.Count, checker.Calls.Count);
        Assert.Equal(labels.AgreeingTokens + labels.Deviations.Count, labels.Examples.Count);
        Assert.Equal(labels.AgreeingTokens, labels.Examples.Count(e => e.Acceptable) - labels.Deviations.Count(d => d.Acceptable));
        using var dense = loaded.Model.CreateSession();
        foreach (var d in labels.Deviations)
        {
            var answer = labels.Answers[d.PromptIndex];
            Assert.NotEqual(d.Drafted, d.DenseChoice);
            Assert.Equal(d.Acceptable ? d.Drafted : d.DenseChoice, answer[d.AnswerIndex]);
            int[] prefix = [.. tokenizer.Encode(Prompts[d.PromptIndex], addBos: true), .. answer.Take(d.AnswerIndex), d.Drafted];
            int[] completion = [.. answer.Take(d.AnswerIndex), d.Drafted, .. DenseGreedy(dense, prefix, budget - d.AnswerIndex - 1, tokenizer.EosIds)];
            Assert.Equal(tokenizer.Decode(completion), d.Completion);
            Assert.Equal(d.Completion.Contains(" ball", StringComparison.Ordinal), d.Acceptable);
        }
        Assert.Equal(checker.Calls.Select(c => c.Completion), labels.Deviations.Select(d => d.Completion));
        Assert.Contains(labels.Deviations, d => d.Acceptable);
        Assert.Contains(labels.Deviations, d => !d.Acceptable);
        Assert.All(labels.Deviations.GroupBy(d => d.PromptIndex), g => Assert.True(g.Count() <= 4));
    }

    // A checker that rejects everything makes the walk the dense greedy answer (every deviation replaced by the dense
    // token); the examples' hidden states are the dense rows of the drafted tokens.
    [Fact]
    public void RejectingEveryDeviationWalksTheDenseGreedyAnswer()
    {
        using var loaded = StoriesModel.LoadStories();
        var tokenizer = loaded.Tokenizer;
        const int budget = 24;
        var never = new FakeChecker(_ => false);
        var labeler = new AutomaticJudgeLabeler(loaded.Model, tokenizer, Griffin(loaded, 0.8), never, new AutomaticLabelingOptions(budget, budget));
        var generator = new TextGenerator(loaded.Model, tokenizer, FfnPolicy.Dense);
        using var dense = loaded.Model.CreateSession();
        int deviations = 0;
        foreach (var prompt in Prompts.Take(4))
        {
            var labels = labeler.Label([prompt], cancellationToken: Ct);
            var answer = labels.Answers[0];
            Assert.Equal(generator.Generate(prompt, new GenerationOptions(MaxTokens: budget), Ct).GeneratedTokens, answer);
            Assert.Equal(0, labels.PromptsCutShort);
            Assert.All(labels.Deviations, d => Assert.False(d.Acceptable));
            Assert.Equal(labels.Deviations.Count, labels.Examples.Count(e => !e.Acceptable));
            deviations += labels.Deviations.Count;

            // Example k labels answer token k + 1 (the first comes from the prefill): its row after prompt + answer[..k] + drafted.
            int[] promptIds = tokenizer.Encode(prompt, addBos: true);
            var byIndex = labels.Deviations.ToDictionary(d => d.AnswerIndex);
            for (int k = 0; k < Math.Min(labels.Examples.Count, answer.Length - 1); k++)
            {
                int index = k + 1;
                int token = byIndex.TryGetValue(index, out var d) ? d.Drafted : answer[index];
                var rows = StepwiseRows(dense, promptIds, [.. answer.Take(index), token]);
                AssertClose(rows[^1], labels.Examples[k].Hidden, $"'{prompt}' answer token {index}");
                Assert.Equal(!byIndex.ContainsKey(index), labels.Examples[k].Acceptable);
            }
        }
        Assert.True(deviations > 0, "the draft never deviated: the test would not see a wrong replacement");
    }

    // One deviation per prompt at most: calls are bounded by the prompts, and prompts with more deviations stop early.
    [Fact]
    public void CheckerCallsAreBoundedByTheDeviationCap()
    {
        using var loaded = StoriesModel.LoadStories();
        var always = new FakeChecker(_ => true);
        var labeler = new AutomaticJudgeLabeler(loaded.Model, loaded.Tokenizer, Griffin(loaded, 0.8), always, new AutomaticLabelingOptions(48, 1));
        var labels = labeler.Label(Prompts, cancellationToken: Ct);
        Assert.Equal(labels.Deviations.Count, always.Calls.Count);
        Assert.InRange(always.Calls.Count, 1, Prompts.Length);
        Assert.All(labels.Deviations.GroupBy(d => d.PromptIndex), g => Assert.Single(g));
        Assert.True(labels.PromptsCutShort > 0, "no prompt had a second deviation: the cap was not exercised");
        Assert.All(labels.Examples, e => Assert.True(e.Acceptable));
        Assert.All(labels.Answers, a => Assert.InRange(a.Length, 1, 48));
    }

    [Fact]
    public void ADenseDraftOrABadBudgetIsRefused()
    {
        using var loaded = StoriesModel.LoadStories();
        var checker = new FakeChecker(_ => true);
        Assert.Throws<ArgumentException>(() => new AutomaticJudgeLabeler(loaded.Model, loaded.Tokenizer, FfnPolicy.Dense, checker, new AutomaticLabelingOptions()));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AutomaticJudgeLabeler(loaded.Model, loaded.Tokenizer, Griffin(loaded, 0.5), checker, new AutomaticLabelingOptions(0)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AutomaticJudgeLabeler(loaded.Model, loaded.Tokenizer, Griffin(loaded, 0.5), checker, new AutomaticLabelingOptions(8, 0)));
    }

    // Greedy continuation by re-running the whole sequence for every token (a different path from the labeler's decode passes).
    private static List<int> DenseGreedy(DecodeSession session, int[] prefix, int maxTokens, IReadOnlyCollection<int> stop)
    {
        var tokens = new List<int>(prefix);
        var generated = new List<int>();
        while (generated.Count < maxTokens && tokens.Count <= session.Config.MaxSeqLen)
        {
            int next = session.Forward(tokens.ToArray(), 0, ForwardKind.Prefill, ForwardOutputs.LastArgmax).Argmax(0);
            if (stop.Contains(next))
                break;
            generated.Add(next);
            tokens.Add(next);
        }
        return generated;
    }
}
