using Caprese.Models.Decoding;
using Caprese.Models.Decoding.Judge;
using Caprese.Models.Generation;
using Caprese.Models.Sessions;
using Caprese.Models.Sparsity;
using Caprese.Models.Tests.Support;

namespace Caprese.Models.Tests.Decoding;

public sealed class DraftVerifyDecodingTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly string[] Prompts =
    [
        "Once upon a time", "Tom had a red ball", "The cat sat", "Lily and Ben", "One day, a little bird",
        "The sun was hot", "Sam liked to", "Mom said", "There was a big tree", "The dog ran",
    ];

    private static FfnPolicy Griffin(LoadedModel loaded, double sparsity = 0.5) =>
        new(SparsityOptions.Default(SparsityMethod.Griffin, sparsity, loaded.Config.Layers));

    // Greedy speculative decoding returns the full model's greedy text exactly, whatever the draft, while the draft
    // alone (plain decoding with the sparse policy) does not.
    [Theory]
    [InlineData("griffin", 0.5, 8)]
    [InlineData("griffin", 0.9, 4)]
    [InlineData("cats", 0.7, 16)]
    public void GreedySpeculativeEqualsDenseGreedy(string method, double sparsity, int gamma)
    {
        using var loaded = StoriesModel.LoadStories();
        var draft = new FfnPolicy(SparsityArguments.Parse(method, sparsity, null, loaded.Config.Layers));
        var dense = new TextGenerator(loaded.Model, loaded.Tokenizer, FfnPolicy.Dense);
        var sparse = new TextGenerator(loaded.Model, loaded.Tokenizer, draft);
        var options = new GenerationOptions(MaxTokens: 60);
        var speculative = options with { Decoding = DraftVerifyDecoding.Speculative(gamma) };
        int differs = 0;
        var total = new DecodingStats();
        foreach (var prompt in Prompts)
        {
            var reference = dense.Generate(prompt, options, Ct);
            var result = sparse.Generate(prompt, speculative, Ct);
            Assert.Equal(reference.GeneratedTokens, result.GeneratedTokens);
            differs += sparse.Generate(prompt, options, Ct).GeneratedTokens.SequenceEqual(reference.GeneratedTokens) ? 0 : 1;
            total += result.Stats.Decoding;
        }
        Assert.True(differs > 0, "the sparse draft alone already matched dense everywhere: the test would not see a wrong verifier");
        Assert.True(total.DensePasses < total.Tokens, $"no draft was ever accepted: {total}");
        Assert.Equal(total.Drafted, total.DraftSteps);
        Assert.True(total.Accepted < total.Drafted);
    }

    // Sirius with threshold 1 keeps no draft (no token has probability >= 1 here): each pass yields the full model's token.
    [Fact]
    public void SiriusWithThresholdOneIsDenseGreedy()
    {
        using var loaded = StoriesModel.LoadStories();
        var dense = new TextGenerator(loaded.Model, loaded.Tokenizer, FfnPolicy.Dense);
        var sparse = new TextGenerator(loaded.Model, loaded.Tokenizer, Griffin(loaded));
        var options = new GenerationOptions(MaxTokens: 40);
        foreach (var prompt in Prompts.Take(4))
        {
            var result = sparse.Generate(prompt, options with { Decoding = DraftVerifyDecoding.Sirius(8, 1.0) }, Ct);
            Assert.Equal(dense.Generate(prompt, options, Ct).GeneratedTokens, result.GeneratedTokens);
            Assert.Equal(1.0, result.Stats.Decoding.AverageAdvance);
        }
    }

    // Every token Sirius emits is one the full model gives probability >= threshold after the text before it, or the
    // full model's own greedy token (a correction); checked by teacher-forcing the dense model over the output.
    [Fact]
    public void SiriusKeepsOnlyTokensTheFullModelFindsLikely()
    {
        using var loaded = StoriesModel.LoadStories();
        const double threshold = 0.1;
        var sparse = new TextGenerator(loaded.Model, loaded.Tokenizer, Griffin(loaded, 0.8));
        var options = new GenerationOptions(MaxTokens: 60) { Decoding = DraftVerifyDecoding.Sirius(8, threshold) };
        int belowArgmax = 0;
        var total = new DecodingStats();
        foreach (var prompt in Prompts)
        {
            var result = sparse.Generate(prompt, options, Ct);
            total += result.Stats.Decoding;
            using var check = loaded.Model.CreateSession();
            int[] ids = [.. result.PromptTokens, .. result.GeneratedTokens];
            var r = check.Forward(ids, 0, ForwardKind.Prefill, new ForwardOutputs(OutputRows.All, Argmax: true));
            // The first generated token comes from the dense prefill; the rest were drafted or corrected.
            for (int i = result.PromptTokens.Count; i < ids.Length; i++)
            {
                int row = i - 1;
                var probs = Softmax(r.Logits(row));
                bool likely = probs[ids[i]] >= threshold, argmax = r.Argmax(row) == ids[i];
                Assert.True(likely || argmax, $"'{prompt}': token {ids[i]} at {i} has dense probability {probs[ids[i]]:G3}");
                belowArgmax += argmax ? 0 : 1;
            }
        }
        Assert.True(belowArgmax > 0, "Sirius never kept a non-argmax token: the threshold rule is not exercised");
        Assert.True(total.AverageAdvance > 1.5, $"AAL {total.AverageAdvance}");
    }

    // A judge that never accepts leaves speculative decoding as it is; one that always accepts keeps every draft.
    [Fact]
    public void JudgeHeadDecidesOnlyWhatTheSpeculativeTestRejects()
    {
        using var loaded = StoriesModel.LoadStories();
        int dim = loaded.Config.Dim;
        var never = new JudgeHead(new float[dim], -30f);
        var always = new JudgeHead(new float[dim], 30f);
        var sparse = new TextGenerator(loaded.Model, loaded.Tokenizer, Griffin(loaded, 0.8));
        var options = new GenerationOptions(MaxTokens: 48);
        foreach (var prompt in Prompts.Take(4))
        {
            var spec = sparse.Generate(prompt, options with { Decoding = DraftVerifyDecoding.Speculative(6) }, Ct);
            var judgedNever = sparse.Generate(prompt, options with { Decoding = DraftVerifyDecoding.Judge(never, 0.5, 6) }, Ct);
            Assert.Equal(spec.GeneratedTokens, judgedNever.GeneratedTokens);
            Assert.Equal(0, judgedNever.Stats.Decoding.AcceptedByJudgeOnly);

            var judgedAlways = sparse.Generate(prompt, options with { Decoding = DraftVerifyDecoding.Judge(always, 0.5, 6) }, Ct);
            var s = judgedAlways.Stats.Decoding;
            Assert.Equal(s.Drafted, s.Accepted);
            Assert.True(s.AcceptedByJudgeOnly > 0);
            Assert.Equal(s.Drafted + s.DensePasses, s.Tokens); // every pass keeps all its drafts plus the bonus token
        }
    }

    [Fact]
    public void BadSettingsAreRefused()
    {
        using var loaded = StoriesModel.LoadStories();
        Assert.Throws<ArgumentOutOfRangeException>(() => DraftVerifyDecoding.Speculative(17));
        Assert.Throws<ArgumentOutOfRangeException>(() => DraftVerifyDecoding.Sirius(8, 0));
        var reselecting = new FfnPolicy(new SparsityOptions(SparsityMethod.Griffin, 0.5, GriffinReselectEvery: 4));
        var generator = new TextGenerator(loaded.Model, loaded.Tokenizer, reselecting);
        var e = Assert.Throws<ArgumentException>(() => generator.Generate("Hi", new GenerationOptions(MaxTokens: 5) { Decoding = DraftVerifyDecoding.Speculative() }, Ct));
        Assert.Contains("ρ = 0", e.Message);
        var wrongDim = new JudgeHead(new float[loaded.Config.Dim + 1], 0f);
        Assert.Throws<ArgumentException>(() => new TextGenerator(loaded.Model, loaded.Tokenizer, Griffin(loaded))
            .Generate("Hi", new GenerationOptions(MaxTokens: 5) { Decoding = DraftVerifyDecoding.Judge(wrongDim) }, Ct));
    }

    // Speculative decoding near the context end and with tiny budgets still stops exactly where plain decoding does.
    [Fact]
    public void BudgetsAndTheContextEndAreRespected()
    {
        using var loaded = StoriesModel.LoadStories();
        var dense = new TextGenerator(loaded.Model, loaded.Tokenizer, FfnPolicy.Dense);
        var sparse = new TextGenerator(loaded.Model, loaded.Tokenizer, Griffin(loaded));
        foreach (int max in new[] { 1, 2, 3, 9 })
        {
            var o = new GenerationOptions(MaxTokens: max);
            Assert.Equal(dense.Generate("The cat", o, Ct).GeneratedTokens,
                sparse.Generate("The cat", o with { Decoding = DraftVerifyDecoding.Speculative(8) }, Ct).GeneratedTokens);
        }
        string longPrompt = string.Join(' ', Enumerable.Repeat("Lily", 500));
        var full = new GenerationOptions(MaxTokens: 1000);
        var a = dense.Generate(longPrompt, full, Ct);
        var b = sparse.Generate(longPrompt, full with { Decoding = DraftVerifyDecoding.Speculative(8) }, Ct);
        Assert.Equal(a.GeneratedTokens, b.GeneratedTokens);
        Assert.Equal(a.Stats.StopReason, b.Stats.StopReason);
    }

    private static double[] Softmax(ReadOnlySpan<float> logits)
    {
        double max = double.NegativeInfinity;
        foreach (float l in logits)
            max = Math.Max(max, l);
        var p = new double[logits.Length];
        double sum = 0;
        for (int i = 0; i < p.Length; i++)
            sum += p[i] = Math.Exp(logits[i] - max);
        for (int i = 0; i < p.Length; i++)
            p[i] /= sum;
        return p;
    }
}
