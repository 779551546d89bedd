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

    // One model has one KV cache: a second stream started while the first is being consumed used to overwrite
    // the first one's cache and both returned wrong text without an error. Now the second is refused and the
    // first is unaffected.
    [Fact]
    public async Task SecondStreamOnOneModelWhileTheFirstRunsIsRefused()
    {
        using var loaded = StoriesModel.LoadStories();
        var ct = TestContext.Current.CancellationToken;
        var options = new GenerationOptions(MaxTokens: 60);
        string reference = loaded.Generator.Generate(SharedFiles.ReferencePrompt, options, ct).Text;

        var first = loaded.Generator.GenerateAsync(SharedFiles.ReferencePrompt, options, ct).GetAsyncEnumerator(ct);
        var text = new System.Text.StringBuilder();
        Assert.True(await first.MoveNextAsync());
        text.Append(first.Current);

        var other = new TextGenerator(loaded.Model, loaded.Tokenizer);  // another generator over the same model
        var second = other.GenerateAsync("Once upon a time", options, ct).GetAsyncEnumerator(ct);
        var error = await Assert.ThrowsAsync<InvalidOperationException>(async () => await second.MoveNextAsync());
        Assert.Contains("already generating", error.Message);
        await second.DisposeAsync();

        while (await first.MoveNextAsync())
            text.Append(first.Current);
        await first.DisposeAsync();
        Assert.Equal(reference, text.ToString());

        // Released at the end of the stream: the model takes a new generation.
        Assert.Equal(reference, other.Generate(SharedFiles.ReferencePrompt, options, ct).Text);
    }

    // Generations racing on threads: each either produces exactly the sequential text or is refused, never wrong.
    [Fact]
    public void ConcurrentGenerationsAreCorrectOrRefused()
    {
        using var loaded = StoriesModel.LoadStories();
        var ct = TestContext.Current.CancellationToken;
        var options = new GenerationOptions(MaxTokens: 40);
        string reference = loaded.Generator.Generate(SharedFiles.ReferencePrompt, options, ct).Text;
        int refused = 0, correct = 0;
        using var start = new Barrier(4);
        var threads = Enumerable.Range(0, 4).Select(_ => new Thread(() =>
        {
            var generator = new TextGenerator(loaded.Model, loaded.Tokenizer);
            start.SignalAndWait(ct);
            try
            {
                string text = generator.Generate(SharedFiles.ReferencePrompt, options, ct).Text;
                if (text == reference)
                    Interlocked.Increment(ref correct);
            }
            catch (InvalidOperationException)
            {
                Interlocked.Increment(ref refused);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.Equal(4, correct + refused);  // no thread got wrong text or another exception
        Assert.True(correct >= 1);
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
