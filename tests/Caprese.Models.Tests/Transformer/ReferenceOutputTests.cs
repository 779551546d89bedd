using Caprese.Interop;
using Caprese.Models.Generation;
using Caprese.Models.Tests.Support;

namespace Caprese.Models.Tests.Transformer;

/// <summary>The greedy continuation must reproduce the llama2.c reference ids exactly, on every backend.</summary>
public sealed class ReferenceOutputTests
{
    [Theory]
    [InlineData(BackendKind.Cpu)]
    [InlineData(BackendKind.Cuda)]
    public void GreedyContinuationMatchesTheReference(BackendKind backend)
    {
        var expected = SharedFiles.ReferenceGeneratedIds();
        Assert.Equal(60, expected.Length);
        using var loaded = StoriesModel.LoadStories(backend);

        var result = loaded.Generator.Generate(SharedFiles.ReferencePrompt, new GenerationOptions(MaxTokens: expected.Length), TestContext.Current.CancellationToken);

        Assert.Equal(SharedFiles.ReferencePromptIds(), result.PromptTokens);
        Assert.Equal(expected, result.GeneratedTokens);
        Assert.Equal(StopReason.MaxTokens, result.Stats.StopReason);
        Assert.Equal(expected.Length - 1, result.Stats.DecodeSteps);
    }

    [Theory]
    [InlineData(BackendKind.Cpu)]
    [InlineData(BackendKind.Cuda)]
    public void ModelLevelGreedyLoopMatchesTheReference(BackendKind backend)
    {
        var expected = SharedFiles.ReferenceGeneratedIds();
        using var loaded = StoriesModel.LoadStories(backend);
        var prompt = SharedFiles.ReferencePromptIds();
        var model = loaded.Model;

        // Host-side argmax of copied logits must agree with the backend's argmax.
        var ids = new List<int> { Sampler.Argmax(model.Prefill(prompt, 0)) };
        for (int pos = prompt.Length; ids.Count < expected.Length; pos++)
            ids.Add(model.DecodeStepArgmax(ids[^1], pos));
        Assert.Equal(expected, ids);
    }

    [Fact]
    public void TextMatchesTheReadmeStory()
    {
        using var loaded = StoriesModel.LoadStories();
        var result = loaded.Generator.Generate(SharedFiles.ReferencePrompt, new GenerationOptions(MaxTokens: 252), TestContext.Current.CancellationToken);
        var story = SharedFiles.ReferencePrompt + result.Text;
        // The README wraps lines; compare with whitespace runs collapsed.
        Assert.StartsWith(Collapse(SharedFiles.ReferenceTextStart()), Collapse(story));
    }

    private static string Collapse(string s) => string.Join(' ', s.Split((char[])[' ', '\n', '\r', '\t'], StringSplitOptions.RemoveEmptyEntries));
}
