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
