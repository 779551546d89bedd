using System.Text;
using Caprese.Models.Tests.Support;
using Caprese.Models.Tokenization;

namespace Caprese.Models.Tests.Tokenization;

public sealed class TokenizerTests
{
    private static readonly Lazy<SentencePieceBpeTokenizer> Shared = new(() => SentencePieceBpeTokenizer.Load(SharedFiles.Tokenizer, 512));
    private static SentencePieceBpeTokenizer Tokenizer => Shared.Value;

    [Fact]
    public void ReferencePromptEncodesToTheReadmeIds()
    {
        Assert.Equal(SharedFiles.ReferencePromptIds(), Tokenizer.Encode(SharedFiles.ReferencePrompt, addBos: true));
    }

    [Fact]
    public void ReferencePromptDecodesWithoutTheDummyPrefix()
    {
        Assert.Equal(SharedFiles.ReferencePrompt, Tokenizer.Decode(SharedFiles.ReferencePromptIds()));
    }

    [Fact]
    public void LoadsAllTokensWithTheirScores()
    {
        Assert.Equal(512, Tokenizer.VocabSize);
        Assert.Equal(7, Tokenizer.MaxTokenLength);
        Assert.Equal(" Once", Encoding.UTF8.GetString(Tokenizer.PieceBytes(403)));
        Assert.Equal("<0x41>", Encoding.UTF8.GetString(Tokenizer.PieceBytes(0x41 + 3)));
        Assert.Equal([(byte)'A'], Tokenizer.TokenBytes(0x41 + 3).ToArray());
    }

    [Fact]
    public void EmptyTextIsJustBosAndEos()
    {
        Assert.Equal([1], Tokenizer.Encode("", addBos: true));
        Assert.Equal([1, 2], Tokenizer.Encode("", addBos: true, addEos: true));
        Assert.Empty(Tokenizer.Encode("", addBos: false));
    }

    [Theory]
    [InlineData("Once upon a time, there was a little girl named Lily.")]
    [InlineData("She said, \"I can't find it!\"\nThe end.")]
    [InlineData("  two leading spaces and trailing  ")]
    [InlineData("tabs\tand\r\nnewlines")]
    [InlineData("Crème brûlée für Jürgen, naïve café")]
    [InlineData("日本語のテキスト")]
    [InlineData("Ελληνικά и русский")]
    [InlineData("emoji 🍅🧀 and math ∑∫√")]
    [InlineData("x")]
    public void RoundTripsText(string text)
    {
        var ids = Tokenizer.Encode(text, addBos: true);
        Assert.Equal(1, ids[0]);
        Assert.All(ids, id => Assert.InRange(id, 0, 511));
        Assert.Equal(text, Tokenizer.Decode(ids));
    }

    [Fact]
    public void UnknownCodepointsFallBackToUtf8ByteTokens()
    {
        var ids = Tokenizer.Encode("🍅", addBos: false);
        // " " is a vocabulary piece; the tomato is not and becomes its four UTF-8 bytes.
        var bytes = Encoding.UTF8.GetBytes("🍅");
        Assert.Equal(bytes.Select(b => b + 3), ids.Skip(ids.Length - 4));
    }

    [Fact]
    public void StreamingDecoderHoldsBackIncompleteCharacters()
    {
        const string text = "tomato 🍅 is 日本語";
        var ids = Tokenizer.Encode(text, addBos: true);
        var decoder = Tokenizer.CreateDecoder();
        var pieces = ids.Select(decoder.Append).Append(decoder.Flush()).ToList();
        Assert.DoesNotContain(pieces, p => p.Contains('\uFFFD'));
        Assert.Contains(pieces, p => p.Length == 0); // at least one byte token completed nothing yet
        Assert.Equal(text, string.Concat(pieces));
    }

    [Fact]
    public void FlushReplacesATruncatedCharacter()
    {
        var decoder = Tokenizer.CreateDecoder();
        Assert.Equal("", decoder.Append(0xF0 + 3)); // first byte of a 4-byte sequence
        Assert.Equal("\uFFFD", decoder.Flush());
    }

    [Fact]
    public void RejectsOutOfRangeIds()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Tokenizer.TokenBytes(512));
        Assert.Throws<ArgumentOutOfRangeException>(() => Tokenizer.TokenBytes(-1));
    }

    [Fact]
    public void MergesPreferTheHighestScoreThenTheLeftmostPair()
    {
        // A handmade vocabulary: "ab" outranks "bc", so "abc" becomes "ab" + "c".
        var tok = Build(("<unk>", 0), ("<s>", 0), ("</s>", 0), (" ", -1), ("a", -1), ("b", -1), ("c", -1), ("ab", -2), ("bc", -3), (" ab", -10));
        Assert.Equal([1, 9, 6], tok.Encode("abc"));
        // Equal scores: the leftmost pair merges first.
        var tie = Build(("<unk>", 0), ("<s>", 0), ("</s>", 0), (" ", -1), ("a", -1), ("aa", -2));
        Assert.Equal([1, 3, 5, 4], tie.Encode("aaa"));
    }

    private static SentencePieceBpeTokenizer Build(params (string Piece, float Score)[] vocab)
    {
        using var ms = new MemoryStream();
        using var w = new BinaryWriter(ms);
        w.Write(vocab.Max(v => Encoding.UTF8.GetByteCount(v.Piece)));
        foreach (var (piece, score) in vocab)
        {
            var bytes = Encoding.UTF8.GetBytes(piece);
            w.Write(score);
            w.Write(bytes.Length);
            w.Write(bytes);
        }
        w.Flush();
        return SentencePieceBpeTokenizer.FromBytes(ms.ToArray(), "handmade", vocab.Length);
    }
}
