using Caprese.Models.Generation;
using Caprese.Models.Tests.Support;

namespace Caprese.Models.Tests.Generation;

public sealed class TextGeneratorTests
{
    [Fact]
    public async Task StreamingEqualsOneShot()
    {
        using var loaded = StoriesModel.LoadStories();
        var options = new GenerationOptions(MaxTokens: 80);
        var oneShot = loaded.Generator.Generate(SharedFiles.ReferencePrompt, options, TestContext.Current.CancellationToken);

        var pieces = new List<string>();
        await foreach (var piece in loaded.Generator.GenerateAsync(SharedFiles.ReferencePrompt, options, TestContext.Current.CancellationToken))
            pieces.Add(piece);

        Assert.Equal(oneShot.Text, string.Concat(pieces));
        Assert.True(pieces.Count > 10);
        Assert.StartsWith(", there was a little girl named Lily", oneShot.Text);
        Assert.Equal(oneShot.GeneratedTokens.Count, loaded.Generator.LastStats!.GeneratedTokenCount);
    }

    // Each generation has its own decode session: two streams over one model, consumed in turn, used to overwrite
    // each other's KV cache (wrong text, no error), then were refused; now both return exactly what they return alone.
    [Fact]
    public async Task InterleavedStreamsOnOneModelEachMatchTheirSequentialText()
    {
        using var loaded = StoriesModel.LoadStories();
        var ct = TestContext.Current.CancellationToken;
        var options = new GenerationOptions(MaxTokens: 60);
        string referenceA = loaded.Generator.Generate(SharedFiles.ReferencePrompt, options, ct).Text;
        string referenceB = loaded.Generator.Generate("Tom had a red ball", options, ct).Text;
        Assert.NotEqual(referenceA, referenceB);

        var other = new TextGenerator(loaded.Model, loaded.Tokenizer);  // another generator over the same model
        var first = loaded.Generator.GenerateAsync(SharedFiles.ReferencePrompt, options, ct).GetAsyncEnumerator(ct);
        var second = other.GenerateAsync("Tom had a red ball", options, ct).GetAsyncEnumerator(ct);
        var a = new System.Text.StringBuilder();
        var b = new System.Text.StringBuilder();
        bool moreA = true, moreB = true;
        while (moreA || moreB)
        {
            if (moreA && (moreA = await first.MoveNextAsync()))
                a.Append(first.Current);
            if (moreB && (moreB = await second.MoveNextAsync()))
                b.Append(second.Current);
        }
        await first.DisposeAsync();
        await second.DisposeAsync();
        Assert.Equal(referenceA, a.ToString());
        Assert.Equal(referenceB, b.ToString());
    }

    // Generations racing on threads (one generator shared, and one each), different prompts: every one equals its
    // sequential text; none is refused.
    [Fact]
    public void ConcurrentGenerationsEqualSequentialOnes()
    {
        using var loaded = StoriesModel.LoadStories();
        var ct = TestContext.Current.CancellationToken;
        var options = new GenerationOptions(MaxTokens: 40);
        string[] prompts = [SharedFiles.ReferencePrompt, "Tom had a red ball", "The cat sat", "Lily and Ben"];
        string[] sequential = [.. prompts.Select(p => loaded.Generator.Generate(p, options, ct).Text)];
        var results = new string?[8];
        using var start = new Barrier(results.Length);
        var threads = Enumerable.Range(0, results.Length).Select(i => new Thread(() =>
        {
            var generator = i % 2 == 0 ? loaded.Generator : new TextGenerator(loaded.Model, loaded.Tokenizer);
            start.SignalAndWait(ct);
            results[i] = generator.Generate(prompts[i % prompts.Length], options, ct).Text;
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        for (int i = 0; i < results.Length; i++)
            Assert.Equal(sequential[i % prompts.Length], results[i]);
    }

    [Fact]
    public void SeededSamplingIsReproducible()
    {
        using var loaded = StoriesModel.LoadStories();
        var options = new GenerationOptions(MaxTokens: 40, Temperature: 0.9f, TopK: 40, TopP: 0.95f, Seed: 7);
        var a = loaded.Generator.Generate("Lily and Tom", options, TestContext.Current.CancellationToken);
        var b = loaded.Generator.Generate("Lily and Tom", options, TestContext.Current.CancellationToken);
        Assert.Equal(a.GeneratedTokens, b.GeneratedTokens);
        Assert.Equal(a.Text, b.Text);
    }

    [Fact]
    public void StatsDescribeTheRun()
    {
        using var loaded = StoriesModel.LoadStories();
        var result = loaded.Generator.Generate(SharedFiles.ReferencePrompt, new GenerationOptions(MaxTokens: 20), TestContext.Current.CancellationToken);
        var s = result.Stats;
        Assert.Equal(5, s.PromptTokenCount);
        Assert.Equal(20, s.GeneratedTokenCount);
        Assert.Equal(19, s.DecodeSteps);
        Assert.True(s.PrefillMilliseconds > 0);
        Assert.True(s.DecodeTokensPerSecond > 0);
    }

    [Fact]
    public void ZeroTokensGeneratesNothing()
    {
        using var loaded = StoriesModel.LoadStories();
        var result = loaded.Generator.Generate("Hi", new GenerationOptions(MaxTokens: 0), TestContext.Current.CancellationToken);
        Assert.Empty(result.GeneratedTokens);
        Assert.Equal("", result.Text);
    }

    [Fact]
    public void StopsWhenTheContextIsFull()
    {
        using var loaded = StoriesModel.LoadStories();
        var prompt = string.Join(' ', Enumerable.Repeat("Lily", 490));
        var result = loaded.Generator.Generate(prompt, new GenerationOptions(MaxTokens: 1000, Temperature: 1f, Seed: 3), TestContext.Current.CancellationToken);
        Assert.True(result.Stats.StopReason is StopReason.ContextFull or StopReason.EndOfSequence);
        Assert.True(result.PromptTokens.Count + result.GeneratedTokens.Count <= loaded.Config.MaxSeqLen + 1);
    }

    [Fact]
    public void TooLongPromptIsRejected()
    {
        using var loaded = StoriesModel.LoadStories();
        var prompt = string.Join(' ', Enumerable.Repeat("Lily", 600));
        Assert.Throws<ArgumentException>(() => { _ = loaded.Generator.Generate(prompt, new GenerationOptions(), TestContext.Current.CancellationToken); });
    }

    [Fact]
    public async Task CancellationStopsStreaming()
    {
        using var loaded = StoriesModel.LoadStories();
        using var cts = new CancellationTokenSource();
        int pieces = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in loaded.Generator.GenerateAsync(SharedFiles.ReferencePrompt, new GenerationOptions(MaxTokens: 200), cts.Token))
            {
                if (++pieces == 3)
                    await cts.CancelAsync();
            }
        });
        Assert.Equal(3, pieces);
    }
}
