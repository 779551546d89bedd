using Caprese.Models.Tests.Support;
using Caprese.Models.Tokenization;

namespace Caprese.Models.Tests.Tokenization;

/// <summary>tokenizer.json of both kinds: byte-level BPE (through Microsoft.ML.Tokenizers) and SentencePiece-style BPE.</summary>
public sealed class HfTokenizerTests
{
    [Fact]
    public void ByteLevelBpeEncodesAndStreamsBack()
    {
        using var dir = new TempDirectory();
        TokenizerJsonWriter.HelloWorld(dir.Path);

        var tok = HfTokenizerLoader.Load(dir.Path, bosId: 0, eosIds: [1])!;
        Assert.IsType<MlTokenizerAdapter>(tok);
        var ids = tok.Encode("hello world");
        Assert.Equal([0, 13, 17], ids);
        Assert.Equal("hello world", tok.Decode(ids));

        var decoder = tok.CreateDecoder(previousToken: 0);
        Assert.Equal("hello world", decoder.Append(13) + decoder.Append(17) + decoder.Flush());
    }

    [Fact]
    public void SentencePieceStyleJsonUsesMergeRankAsScore()
    {
        // U+2581 marks word starts; byte tokens back up unknown characters.
        var pieces = new List<string> { "<unk>", "<s>", "</s>" };
        pieces.AddRange(Enumerable.Range(0, 256).Select(b => $"<0x{b:X2}>"));
        pieces.AddRange(["▁", "a", "b", "▁a", "ab", "▁ab"]);
        var vocab = pieces.Select((p, i) => (p, i)).ToDictionary(x => x.p, x => x.i);
        using var dir = new TempDirectory();
        // Llama 2 style: the normalizer prepends a word mark (dummy prefix) and replaces spaces.
        var llama2Normalizer = new
        {
            type = "Sequence",
            normalizers = new object[] { new { type = "Prepend", prepend = "▁" }, new { type = "Replace", pattern = new { String = " " }, content = "▁" } },
        };
        TokenizerJsonWriter.Write(dir.Path, vocab, ["▁ a", "▁a b", "a b"], byteFallback: true, preTokenizer: null, normalizer: llama2Normalizer);

        var tok = HfTokenizerLoader.Load(dir.Path, bosId: 1, eosIds: [2])!;
        var sp = Assert.IsType<SentencePieceBpeTokenizer>(tok);
        Assert.True(sp.AddDummyPrefix);
        int Id(string p) => vocab[p];
        Assert.Equal([1, Id("▁ab"), Id("▁a"), Id("<0x21>")], tok.Encode("ab a!"));
        Assert.Equal("ab a!", tok.Decode(tok.Encode("ab a!")));

        // Gemma style: spaces replaced, nothing prepended.
        using var gemmaDir = new TempDirectory();
        TokenizerJsonWriter.Write(gemmaDir.Path, vocab, ["▁ a", "▁a b", "a b"], byteFallback: true, preTokenizer: null,
            normalizer: new { type = "Replace", pattern = new { String = " " }, content = "▁" });
        var gemma = Assert.IsType<SentencePieceBpeTokenizer>(HfTokenizerLoader.Load(gemmaDir.Path, bosId: 1, eosIds: [2]));
        Assert.False(gemma.AddDummyPrefix);
        Assert.Equal([1, Id("ab"), Id("▁a")], gemma.Encode("ab a"));
        Assert.Equal("ab a", gemma.Decode(gemma.Encode("ab a")));
    }

    [Fact]
    public void PostProcessorTemplateDecidesTheBos()
    {
        using var withTemplate = new TempDirectory();
        TokenizerJsonWriter.HelloWorld(withTemplate.Path, new
        {
            type = "TemplateProcessing",
            single = new object[] { new { SpecialToken = new { id = "<|bos|>", type_id = 0 } }, new { Sequence = new { id = "A", type_id = 0 } } },
        });
        Assert.Equal([0, 13], HfTokenizerLoader.Load(withTemplate.Path, bosId: 1, eosIds: [1])!.Encode("hello"));

        using var withoutBos = new TempDirectory();
        TokenizerJsonWriter.HelloWorld(withoutBos.Path, new { type = "ByteLevel", add_prefix_space = false });
        var tok = HfTokenizerLoader.Load(withoutBos.Path, bosId: 0, eosIds: [1])!;
        Assert.Null(tok.BosId);
        Assert.Equal([13], tok.Encode("hello"));
    }

    [Fact]
    public void NoTokenizerFilesMeansNone()
    {
        using var dir = new TempDirectory();
        Assert.Null(HfTokenizerLoader.Load(dir.Path, 1, [2]));
    }
}
