using Caprese.Models.Generation;
using Caprese.Models.Tests.Support;

namespace Caprese.Models.Tests.Generation;

public sealed class StopWhenTests
{
    [Fact]
    public void StopsAtTheFirstTokenForWhichTheConditionHoldsAndEmitsItsText()
    {
        using var loaded = StoriesModel.LoadStories();
        var ct = TestContext.Current.CancellationToken;
        var full = loaded.Generator.Generate(SharedFiles.ReferencePrompt, new GenerationOptions(MaxTokens: 60), ct);
        var seen = new List<string>();
        var stopped = loaded.Generator.Generate(SharedFiles.ReferencePrompt, new GenerationOptions(MaxTokens: 60)
        {
            StopWhen = text => { seen.Add(text); return text.Contains("girl", StringComparison.Ordinal); },
        }, ct);
        Assert.Equal(StopReason.StopCondition, stopped.Stats.StopReason);
        Assert.EndsWith("girl", stopped.Text);
        Assert.StartsWith(stopped.Text, full.Text);
        Assert.Equal(seen.Count, stopped.GeneratedTokens.Count); // asked once per token, with the text so far
        Assert.Equal(stopped.Text, seen[^1]);
    }

    // The condition sees the text before stop strings hold back a possible prefix; what they hold is still emitted.
    [Fact]
    public void TextHeldBackByAStopStringPrefixIsFlushed()
    {
        using var loaded = StoriesModel.LoadStories();
        var ct = TestContext.Current.CancellationToken;
        var stopped = loaded.Generator.Generate(SharedFiles.ReferencePrompt, new GenerationOptions(MaxTokens: 60, StopStrings: ["girl named X"])
        {
            StopWhen = text => text.EndsWith("girl", StringComparison.Ordinal),
        }, ct);
        Assert.Equal(StopReason.StopCondition, stopped.Stats.StopReason);
        Assert.EndsWith("girl", stopped.Text);
    }
}
