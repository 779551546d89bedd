using System.Buffers.Binary;
using Caprese.Models.Loading;
using Caprese.Models.Tests.Support;
using Caprese.Models.Tokenization;

namespace Caprese.Models.Tests.Tokenization;

public sealed class TokenizerFormatTests
{
    private static byte[] Original => File.ReadAllBytes(SharedFiles.Tokenizer);

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(int.MaxValue)]
    public void RejectsABadMaxTokenLength(int value)
    {
        var data = Original;
        BinaryPrimitives.WriteInt32LittleEndian(data, value);
        var ex = Assert.Throws<ModelFormatException>(() => SentencePieceBpeTokenizer.FromBytes(data, "tok.bin", 512));
        Assert.Equal("max_token_length", ex.Item);
        Assert.Equal("tok.bin", ex.FilePath);
    }

    [Theory]
    [InlineData(-5)]
    [InlineData(0)]
    [InlineData(8)]
    [InlineData(int.MaxValue)]
    public void RejectsABadTokenLength(int value)
    {
        var data = Original;
        BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(8), value); // token 0's length field
        var ex = Assert.Throws<ModelFormatException>(() => SentencePieceBpeTokenizer.FromBytes(data, "tok.bin", 512));
        Assert.Equal("token 0", ex.Item);
    }

    [Fact]
    public void RejectsTruncatedAndExtendedFiles()
    {
        var data = Original;
        Assert.Throws<ModelFormatException>(() => SentencePieceBpeTokenizer.FromBytes(data.AsSpan(0, data.Length - 1), "t", 512));
        Assert.Throws<ModelFormatException>(() => SentencePieceBpeTokenizer.FromBytes(data.AsSpan(0, 2), "t", 512));
        Assert.Throws<ModelFormatException>(() => SentencePieceBpeTokenizer.FromBytes([.. data, 0], "t", 512));
        Assert.Throws<ModelFormatException>(() => SentencePieceBpeTokenizer.FromBytes(data, "t", 513));
    }

    [Fact]
    public void WithoutAVocabSizeReadsToTheEnd()
    {
        Assert.Equal(512, SentencePieceBpeTokenizer.FromBytes(Original, "t").VocabSize);
    }

    [Fact]
    public void LoadNamesTheFullPath()
    {
        using var dir = new TempDirectory();
        var path = dir.File("tok.bin");
        File.WriteAllBytes(path, Original[..100]);
        var ex = Assert.Throws<ModelFormatException>(() => SentencePieceBpeTokenizer.Load(path, 512));
        Assert.Equal(path, ex.FilePath);
        Assert.Contains(path, ex.Message);
    }
}
