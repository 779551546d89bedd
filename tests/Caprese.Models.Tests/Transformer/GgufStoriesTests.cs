using Caprese.Interop;
using Caprese.Models.Generation;
using Caprese.Models.Tests.Support;

namespace Caprese.Models.Tests.Transformer;

/// <summary>stories260K.gguf is the same model as stories260K.bin: same tokenizer ids, same logits, same greedy story.</summary>
public sealed class GgufStoriesTests
{
    [Fact]
    public void GgufTokenizerEncodesThePromptLikeTheReference()
    {
        using var loaded = StoriesModel.LoadStoriesGguf();
        Assert.Equal(SharedFiles.Gguf, loaded.TokenizerPath);
        Assert.Equal([1, 403, 407, 261, 378], loaded.Tokenizer.Encode(SharedFiles.ReferencePrompt));
        Assert.Equal(SharedFiles.ReferencePromptIds(), loaded.Tokenizer.Encode(SharedFiles.ReferencePrompt));
        Assert.Equal(SharedFiles.ReferencePrompt, loaded.Tokenizer.Decode(loaded.Tokenizer.Encode(SharedFiles.ReferencePrompt)));
    }

    [Theory]
    [InlineData(BackendKind.Cpu)]
    [InlineData(BackendKind.Cuda)]
    public void GreedyContinuationMatchesTheReference(BackendKind backend)
    {
        var expected = SharedFiles.ReferenceGeneratedIds();
        using var loaded = StoriesModel.LoadStoriesGguf(backend);
        var result = loaded.Generator.Generate(SharedFiles.ReferencePrompt, new GenerationOptions(MaxTokens: expected.Length), TestContext.Current.CancellationToken);
        Assert.Equal(SharedFiles.ReferencePromptIds(), result.PromptTokens);
        Assert.Equal(expected, result.GeneratedTokens);
    }

    [Fact]
    public void GgufAndLlama2cLogitsAreEqual()
    {
        using var gguf = StoriesModel.LoadStoriesGguf();
        using var bin = StoriesModel.LoadStories();
        // The GGUF stores output.weight as its own copy of the embedding, so only tying differs.
        Assert.Equal(bin.Config with { TiedEmbeddings = false }, gguf.Config);
        int[] prompt = [1, 403, 407, 261, 378, 432, 383, 286];
        // Same f32 weights, same ops in the same order: bit-identical.
        Assert.Equal(bin.Model.Prefill(prompt, 0), gguf.Model.Prefill(prompt, 0));
        Assert.Equal(bin.Model.DecodeStep(261, prompt.Length), gguf.Model.DecodeStep(261, prompt.Length));
    }
}
