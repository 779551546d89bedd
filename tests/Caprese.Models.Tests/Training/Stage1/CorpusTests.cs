using Caprese.Models.Sparsity;
using Caprese.Models.Tests.Support;
using Caprese.Models.Training.Corpus;

namespace Caprese.Models.Tests.Training.Stage1;

public sealed class CorpusTests
{
    [Fact]
    public void SyntheticCorpusIsSeededAndShapedAsAsked()
    {
        using var loaded = StoriesModel.LoadStories();
        var model = loaded.Model;
        var sparsity = new SparsityOptions(SparsityMethod.Cats, 0.5);
        model.SetSparsity(sparsity);
        var options = new SyntheticCorpusOptions(6, PromptTokens: 5, ContinuationTokens: 10, Temperature: 1f, Seed: 7);
        var a = SyntheticCorpus.Generate(model, options, cancellationToken: TestContext.Current.CancellationToken);
        var b = SyntheticCorpus.Generate(model, options, cancellationToken: TestContext.Current.CancellationToken);
        var c = SyntheticCorpus.Generate(model, options with { Seed = 8 }, cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(6, a.Count);
        Assert.All(a, s => Assert.Equal((5, 10), (s.Prompt.Length, s.Continuation.Length)));
        Assert.All(a, s => Assert.Equal(1, s.Prompt[0])); // BOS start
        Assert.Equal(a.Select(s => s.Tokens), b.Select(s => s.Tokens));
        Assert.NotEqual(a.Select(s => s.Tokens), c.Select(s => s.Tokens));
        Assert.Equal(6 * 10, a.ContinuationTokens);
        Assert.Equal(sparsity, model.Sparsity); // generation ran dense and put the sparsity back

        // Greedy from a given start: the dense model's own greedy continuation.
        var start = loaded.Tokenizer.Encode("Once upon a time", addBos: true);
        var greedy = SyntheticCorpus.Generate(model, new SyntheticCorpusOptions(1, PromptTokens: 1, ContinuationTokens: 6, Temperature: 0, StartPrompts: [start]),
            cancellationToken: TestContext.Current.CancellationToken)[0];
        Assert.Equal(start, greedy.Prompt);
        model.SetSparsity(null);
        int next = model.PrefillArgmax(start, 0);
        Assert.Equal(next, greedy.Continuation[0]);
        Assert.Equal(model.DecodeStepArgmax(next, start.Length), greedy.Continuation[1]);
    }

    [Fact]
    public void TextAndJsonlFilesBecomeTeacherForcedSequences()
    {
        using var loaded = StoriesModel.LoadStories();
        var tok = loaded.Tokenizer;
        using var dir = new TempDirectory();
        string text = dir.File("stories.txt");
        File.WriteAllText(text, "Once upon a time there was a cat.\nIt liked milk.\n\n\nThe dog ran to the park and played.\n\nHi\n");
        var options = new TextCorpusOptions(PromptTokens: 4, MaxTokens: 9);
        var corpus = TextCorpus.FromFile(text, tok, options);

        var first = tok.Encode("Once upon a time there was a cat. It liked milk.", addBos: true)[..9];
        Assert.Equal(2, corpus.Count); // "Hi" leaves no continuation after 4 prompt tokens
        Assert.Equal(first[..4], corpus[0].Prompt);
        Assert.Equal(first[4..], corpus[0].Continuation);

        string jsonl = dir.File("math.jsonl");
        File.WriteAllLines(jsonl, ["{\"question\": \"Tom has two apples.\"}", "", "{\"text\": \"Lily has a red ball.\", \"id\": 3}"]);
        var prefixed = TextCorpus.FromFile(jsonl, tok, new TextCorpusOptions(PromptTokens: 3, Prefix: "Please reason step by step."));
        Assert.Equal(2, prefixed.Count);
        Assert.Equal(tok.Encode("Please reason step by step.\nLily has a red ball.", addBos: true), prefixed[1].Tokens);

        File.WriteAllLines(jsonl, ["{\"question\": \"ok\"}", "{\"answer\": 4}"]);
        var missing = Assert.Throws<InvalidDataException>(() => TextCorpus.FromFile(jsonl, tok));
        Assert.Contains($"{jsonl}: line 2", missing.Message);
        File.WriteAllLines(jsonl, ["{\"question\": "]);
        Assert.Contains("line 1: invalid JSON", Assert.Throws<InvalidDataException>(() => TextCorpus.FromFile(jsonl, tok)).Message);
    }

    [Fact]
    public void SplitHoldsOutASeededShare()
    {
        var corpus = new DistillationCorpus(Enumerable.Range(0, 10).Select(i => new DistillationSequence([1, i], [i + 2])));
        var (train, heldOut) = corpus.Split(0.2, seed: 3);
        Assert.Equal((8, 2), (train.Count, heldOut.Count));
        Assert.Equal(10, train.Concat(heldOut).Select(s => s.Prompt[1]).Distinct().Count());
        Assert.Equal(heldOut.Select(s => s.Prompt[1]), corpus.Split(0.2, seed: 3).HeldOut.Select(s => s.Prompt[1]));
    }
}
