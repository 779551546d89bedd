using Caprese.Models.Decoding.Judge;

namespace Caprese.Models.Tests.Decoding.Judge;

public sealed class JudgeLabelerTests
{
    /// <summary>
    /// A stand-in for the dense model: row i of its output is [i, tokens[i], sum of tokens[0..i], tokens.Length], so a
    /// test can read off which row of which sequence every example came from.
    /// </summary>
    private sealed class FakeModel
    {
        public List<int[]> Calls { get; } = [];

        public float[] HiddenRows(int[] tokens)
        {
            Calls.Add(tokens);
            var rows = new float[tokens.Length * 4];
            int sum = 0;
            for (int i = 0; i < tokens.Length; i++)
            {
                sum += tokens[i];
                rows[i * 4] = i;
                rows[i * 4 + 1] = tokens[i];
                rows[i * 4 + 2] = sum;
                rows[i * 4 + 3] = tokens.Length;
            }
            return rows;
        }
    }

    [Fact]
    public void GoodTokensAreAcceptableAndBadTokensFromTheDeviationOnAreNot()
    {
        var model = new FakeModel();
        int[] prompt = [1, 10, 11];
        int[] good = [20, 21, 22, 23];
        int[] bad = [20, 21, 30, 31, 32];

        var examples = JudgeLabeler.FromTriple(prompt, good, bad, model.HiddenRows);

        Assert.Equal([[1, 10, 11, 20, 21, 22, 23], [1, 10, 11, 20, 21, 30, 31, 32]], model.Calls);
        Assert.Equal([true, true, true, true, false, false, false], examples.Select(e => e.Acceptable));
        // Good answer token j: row 3 + j of prompt + good, i.e. the state after feeding that very token.
        Assert.Equal([3f, 20f, 42f, 7f], examples[0].Hidden);
        Assert.Equal([4f, 21f, 63f, 7f], examples[1].Hidden);
        Assert.Equal([6f, 23f, 108f, 7f], examples[3].Hidden);
        // Bad answer from its deviation (index 2) on: rows 5..7 of prompt + bad; the shared prefix 20, 21 is not repeated.
        Assert.Equal([5f, 30f, 93f, 8f], examples[4].Hidden);
        Assert.Equal([6f, 31f, 124f, 8f], examples[5].Hidden);
        Assert.Equal([7f, 32f, 156f, 8f], examples[6].Hidden);
        Assert.Equal(2, JudgeLabeler.FirstDeviation(good, bad));
    }

    [Fact]
    public void DeviationAtTheFirstTokenLabelsTheWholeBadAnswer()
    {
        var model = new FakeModel();
        var examples = JudgeLabeler.FromTriple([5], [7, 8], [9, 8, 6], model.HiddenRows);
        Assert.Equal([true, true, false, false, false], examples.Select(e => e.Acceptable));
        Assert.Equal([1f, 2f, 3f], examples.Skip(2).Select(e => e.Hidden[0]));
        Assert.Equal([9f, 8f, 6f], examples.Skip(2).Select(e => e.Hidden[1]));
    }

    [Fact]
    public void ABadAnswerExtendingTheGoodOneIsWrongFromWhereTheGoodOneEnds()
    {
        var model = new FakeModel();
        var examples = JudgeLabeler.FromTriple([1, 2], [3, 4], [3, 4, 5, 6], model.HiddenRows);
        Assert.Equal([true, true, false, false], examples.Select(e => e.Acceptable));
        Assert.Equal([4f, 5f], examples.Skip(2).Select(e => e.Hidden[0]));
        Assert.Equal(2, JudgeLabeler.FirstDeviation([3, 4], [3, 4, 5, 6]));
    }

    [Fact]
    public void ABadAnswerThatIsAPrefixOfTheGoodOneAddsNothingAndSkipsTheSecondRun()
    {
        var model = new FakeModel();
        var examples = JudgeLabeler.FromTriple([1], [3, 4, 5], [3, 4], model.HiddenRows);
        Assert.All(examples, e => Assert.True(e.Acceptable));
        Assert.Equal(3, examples.Count);
        Assert.Single(model.Calls);
        Assert.Equal(2, JudgeLabeler.FirstDeviation([3, 4, 5], [3, 4]));
    }

    [Fact]
    public void AnEmptyPromptUsesTheAnswerRowsFromZero()
    {
        var model = new FakeModel();
        var examples = JudgeLabeler.FromTriple([], [3, 4], [5], model.HiddenRows);
        Assert.Equal([0f, 1f, 0f], examples.Select(e => e.Hidden[0]));
        Assert.Equal([3f, 4f, 5f], examples.Select(e => e.Hidden[1]));
    }

    [Fact]
    public void ExamplesOwnTheirHiddenStates()
    {
        var shared = new float[3 * 2];
        var examples = JudgeLabeler.FromTriple([1], [2, 3], [4, 5], _ => shared);
        shared[2] = 99f;
        Assert.All(examples, e => Assert.DoesNotContain(99f, e.Hidden));
    }

    [Fact]
    public void BadInputsAndBadModelOutputsAreReported()
    {
        var model = new FakeModel();
        Assert.Contains("good answer", Assert.Throws<ArgumentException>(() => JudgeLabeler.FromTriple([1], [], [2], model.HiddenRows)).Message);
        Assert.Contains("bad answer", Assert.Throws<ArgumentException>(() => JudgeLabeler.FromTriple([1], [2], [], model.HiddenRows)).Message);

        var size = Assert.Throws<InvalidOperationException>(() => JudgeLabeler.FromTriple([1], [2, 3], [4], tokens => new float[tokens.Length * 4 + 1]));
        Assert.Contains("13 values for 3 tokens", size.Message);
        Assert.Throws<InvalidOperationException>(() => JudgeLabeler.FromTriple([1], [2], [4], _ => null!));
        var dims = Assert.Throws<InvalidOperationException>(() =>
            JudgeLabeler.FromTriple([1], [2], [4], tokens => new float[tokens.Length * (tokens[^1] == 2 ? 4 : 5)]));
        Assert.Contains("5-element rows for the bad answer and 4-element rows for the good one", dims.Message);
        var nan = Assert.Throws<InvalidOperationException>(() => JudgeLabeler.FromTriple([1], [2], [4], tokens =>
        {
            var rows = new float[tokens.Length * 2];
            rows[^1] = float.NaN;
            return rows;
        }));
        Assert.Contains("row 1", nan.Message);
    }

    /// <summary>An <see cref="IAnswerChecker"/> test double: a completion is correct when it ends with the expected answer.</summary>
    private sealed class SuffixChecker(IReadOnlyDictionary<string, string> answers) : IAnswerChecker
    {
        public bool IsCorrect(string prompt, string completion) => completion.TrimEnd().EndsWith(answers[prompt], StringComparison.Ordinal);
    }

    [Fact]
    public void AnAnswerCheckerSortsCompletionsIntoTriples()
    {
        IAnswerChecker checker = new SuffixChecker(new Dictionary<string, string> { ["2+3="] = "5", ["4*4="] = "16" });
        (string Prompt, string[] Completions)[] generated =
        [
            ("2+3=", ["2+3 is 6", "2+3 is 5"]),
            ("4*4=", ["4*4 is 16", "4*4 is 16 "]), // no wrong completion: no triple
        ];
        var triples = generated
            .Select(g => (g.Prompt, Good: g.Completions.FirstOrDefault(c => checker.IsCorrect(g.Prompt, c)),
                Bad: g.Completions.FirstOrDefault(c => !checker.IsCorrect(g.Prompt, c))))
            .Where(t => t.Good is not null && t.Bad is not null)
            .Select(t => new JudgeTriple(t.Prompt, t.Good!, t.Bad!))
            .ToList();
        Assert.Equal([new JudgeTriple("2+3=", "2+3 is 5", "2+3 is 6")], triples);
    }
}
