using Caprese.Models.Generation;
using Caprese.Models.Tests.Support;

namespace Caprese.Models.Tests.Generation;

public sealed class StopStringTests
{
    [Fact]
    public void StopsAtTheStringAndDoesNotEmitIt()
    {
        using var loaded = StoriesModel.LoadStories();
        var ct = TestContext.Current.CancellationToken;
        var full = loaded.Generator.Generate(SharedFiles.ReferencePrompt, new GenerationOptions(MaxTokens: 60), ct);
        Assert.StartsWith(", there was a little girl named Lily.", full.Text);

        var stopped = loaded.Generator.Generate(SharedFiles.ReferencePrompt, new GenerationOptions(MaxTokens: 60, StopStrings: ["Lily", "dragon"]), ct);
        Assert.Equal(", there was a little girl named ", stopped.Text);
        Assert.Equal(StopReason.StopString, stopped.Stats.StopReason);
        Assert.True(stopped.GeneratedTokens.Count < full.GeneratedTokens.Count);
    }

    [Fact]
    public async Task StreamingHoldsBackAPossibleStopPrefix()
    {
        using var loaded = StoriesModel.LoadStories();
        var options = new GenerationOptions(MaxTokens: 60, StopStrings: [". She"]);
        var pieces = new List<string>();
        await foreach (var p in loaded.Generator.GenerateAsync(SharedFiles.ReferencePrompt, options, TestContext.Current.CancellationToken))
            pieces.Add(p);
        string text = string.Concat(pieces);
        Assert.Equal(", there was a little girl named Lily", text);
        Assert.DoesNotContain(pieces, p => p.Contains('.'));
    }

    [Fact]
    public void StringThatNeverAppearsChangesNothing()
    {
        using var loaded = StoriesModel.LoadStories();
        var ct = TestContext.Current.CancellationToken;
        var a = loaded.Generator.Generate(SharedFiles.ReferencePrompt, new GenerationOptions(MaxTokens: 30), ct);
        var b = loaded.Generator.Generate(SharedFiles.ReferencePrompt, new GenerationOptions(MaxTokens: 30, StopStrings: ["zebra!"]), ct);
        Assert.Equal(a.Text, b.Text);
        Assert.Equal(StopReason.MaxTokens, b.Stats.StopReason);
    }

    [Fact]
    public void EmptyStopStringIsRejected()
    {
        Assert.Throws<ArgumentException>(() => new GenerationOptions(StopStrings: [""]).Validate());
    }
}
