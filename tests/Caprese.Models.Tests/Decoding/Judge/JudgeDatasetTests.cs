using Caprese.Models.Decoding.Judge;
using Caprese.Models.Generation;
using Caprese.Models.Sessions;
using Caprese.Models.Sparsity;
using Caprese.Models.Tests.Support;

namespace Caprese.Models.Tests.Decoding.Judge;

/// <summary>Judge examples from stories260K: hidden rows, tokenization of text triples, and triples made from the draft.</summary>
public sealed class JudgeDatasetTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    internal static readonly string[] Prompts =
    [
        "Once upon a time", "Tom had a red ball", "The cat sat", "Lily and Ben", "One day, a little bird",
        "The sun was hot", "Sam liked to", "Mom said", "There was a big tree", "The dog ran",
    ];

    internal static FfnPolicy Griffin(LoadedModel loaded, double sparsity) =>
        new(SparsityArguments.Parse("griffin", sparsity, null, loaded.Config.Layers));

    // Rows from one prefill pass equal the rows of a token-by-token dense pass, so examples carry the full model's state
    // at exactly the labelled token; prompt with BOS, answers without.
    [Fact]
    public void ExamplesCarryTheDenseHiddenStateOfEachLabelledToken()
    {
        using var loaded = StoriesModel.LoadStories();
        var tokenizer = loaded.Tokenizer;
        var triple = JudgeDataset.Tokenize(new JudgeTriple("Once upon a time", "there was a little girl", "there was a big dog"), tokenizer);
        Assert.Equal(tokenizer.Encode("Once upon a time", addBos: true), triple.Prompt);
        Assert.Equal(tokenizer.BosId, triple.Prompt[0]);
        Assert.Equal(tokenizer.Encode("there was a little girl", addBos: false), triple.Good);
        Assert.NotEqual(tokenizer.BosId, triple.Good[0]);
        int deviation = JudgeLabeler.FirstDeviation(triple.Good, triple.Bad);
        Assert.InRange(deviation, 1, triple.Bad.Length - 1);

        using var session = loaded.Model.CreateSession();
        var examples = JudgeDataset.Examples([triple], session, cancellationToken: Ct);
        Assert.Equal(triple.Good.Length + triple.Bad.Length - deviation, examples.Count);

        var expected = new List<(float[] Hidden, bool Acceptable)>();
        expected.AddRange(StepwiseRows(session, triple.Prompt, triple.Good).Select(h => (h, true)));
        expected.AddRange(StepwiseRows(session, triple.Prompt, triple.Bad).Skip(deviation).Select(h => (h, false)));
        for (int i = 0; i < examples.Count; i++)
        {
            Assert.Equal(expected[i].Acceptable, examples[i].Acceptable);
            AssertClose(expected[i].Hidden, examples[i].Hidden, $"example {i}");
        }
        // The good and bad rows at the deviation differ: a wrong row would not pass unnoticed.
        Assert.NotEqual(examples[deviation].Hidden, examples[triple.Good.Length].Hidden);
    }

    [Fact]
    public void HiddenRowsRefuseASparseSession()
    {
        using var loaded = StoriesModel.LoadStories();
        using var sparse = loaded.Model.CreateSession(Griffin(loaded, 0.5));
        Assert.Throws<ArgumentException>(() => JudgeDataset.HiddenRows(sparse));
    }

    [Fact]
    public void ATripleLongerThanTheContextIsRefusedWithItsIndex()
    {
        using var loaded = StoriesModel.LoadStories();
        using var session = loaded.Model.CreateSession();
        var ok = new JudgeTokenTriple([1, 5], [6], [7]);
        var tooLong = new JudgeTokenTriple([1], new int[loaded.Config.MaxSeqLen], [7]);
        var e = Assert.Throws<ArgumentException>(() => JudgeDataset.Examples([ok, tooLong], session, cancellationToken: Ct));
        Assert.StartsWith("triple 1:", e.Message);
    }

    // Good = the dense model's greedy text and bad = the draft's greedy text, exactly as TextGenerator produces them;
    // prompts where the two agree give no triple.
    [Fact]
    public void DraftTriplesPairDenseGreedyWithTheDraftsOwnGreedyText()
    {
        using var loaded = StoriesModel.LoadStories();
        var draft = Griffin(loaded, 0.8);
        const int tokens = 24;
        var options = new GenerationOptions(MaxTokens: tokens);
        var dense = new TextGenerator(loaded.Model, loaded.Tokenizer, FfnPolicy.Dense);
        var sparse = new TextGenerator(loaded.Model, loaded.Tokenizer, draft);
        using var source = new DraftTripleSource(loaded.Model, draft, tokens, loaded.Tokenizer.EosIds);
        var triples = new List<JudgeTokenTriple>();
        foreach (var prompt in Prompts)
        {
            var good = dense.Generate(prompt, options, Ct).GeneratedTokens;
            var bad = sparse.Generate(prompt, options, Ct).GeneratedTokens;
            var triple = source.ForPrompt(loaded.Tokenizer.Encode(prompt, addBos: true));
            if (good.SequenceEqual(bad))
            {
                Assert.Null(triple);
                continue;
            }
            Assert.NotNull(triple);
            Assert.Equal(good, triple.Good);
            Assert.Equal(bad, triple.Bad);
            triples.Add(triple);
        }
        Assert.True(triples.Count >= Prompts.Length / 2, $"only {triples.Count} prompts made the draft deviate");

        using var session = loaded.Model.CreateSession();
        var examples = JudgeDataset.Examples(triples, session, cancellationToken: Ct);
        int unacceptable = triples.Sum(t => t.Bad.Length - JudgeLabeler.FirstDeviation(t.Good, t.Bad));
        Assert.Equal(triples.Sum(t => t.Good.Length), examples.Count(e => e.Acceptable));
        Assert.Equal(unacceptable, examples.Count(e => !e.Acceptable));
    }

    [Fact]
    public void ADenseDraftIsRefused()
    {
        using var loaded = StoriesModel.LoadStories();
        Assert.Throws<ArgumentException>(() => new DraftTripleSource(loaded.Model, FfnPolicy.Dense, 8));
    }

    // Row j of prompt + answer computed one position at a time (dense verification passes of one row).
    internal static List<float[]> StepwiseRows(DecodeSession session, int[] prompt, int[] answer)
    {
        session.Forward(prompt, 0, ForwardKind.Prefill, ForwardOutputs.Nothing);
        var rows = new List<float[]>();
        for (int j = 0; j < answer.Length; j++)
            rows.Add(session.Forward([answer[j]], prompt.Length + j, ForwardKind.Verify,
                new ForwardOutputs(OutputRows.Last, Logits: false, Hidden: true)).Hidden(0).ToArray());
        return rows;
    }

    internal static void AssertClose(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int k = 0; k < expected.Length; k++)
            Assert.True(Math.Abs(expected[k] - actual[k]) <= 1e-4f * Math.Max(1f, Math.Abs(expected[k])),
                $"{what}: element {k} is {actual[k]}, expected {expected[k]}");
    }
}
