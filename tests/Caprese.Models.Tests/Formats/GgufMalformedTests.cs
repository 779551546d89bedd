using System.Buffers.Binary;
using Caprese.Models.Formats.Gguf;
using Caprese.Models.Loading;

namespace Caprese.Models.Tests.Formats;

/// <summary>One malformation per test; each must be a <see cref="ModelFormatException"/> that says what is wrong.</summary>
public sealed class GgufMalformedTests
{
    private static ModelFormatException Rejects(byte[] image, string name = "bad.gguf")
    {
        var ex = Assert.Throws<ModelFormatException>(() => GgufFile.FromBytes(image, name).Dispose());
        Assert.Equal(name, ex.FilePath);
        return ex;
    }

    /// <summary>A small valid v3 file: a string key, one F32 tensor [2, 4] and one F16 [8].</summary>
    private static GgufBuilder Small(uint version = 3)
    {
        var b = new GgufBuilder { Version = version }.AddString("general.name", "small").AddUInt32("x.count", 7);
        b.AddTensor("w", 0, [4, 2], new byte[32]);
        b.AddTensor("v", 1, [8], new byte[16]);
        return b;
    }

    [Fact]
    public void SmallFileIsValid()
    {
        using var gguf = GgufFile.FromBytes(Small().Build(), "ok");
        Assert.Equal(2, gguf.Tensors.Count);
    }

    [Fact]
    public void TruncationInHeaderMetadataAndTensorInfosIsRejectedEverywhere()
    {
        var full = FormatTestFiles.StoriesGgufCopy();
        // Cuts from the empty file to the start of the data section: every byte through the fixed
        // header and the first keys, then every 7th (all field widths are covered by a stride
        // coprime to them), then every byte of the last tensor info and the alignment padding.
        var cuts = Enumerable.Range(0, 512).Concat(Enumerable.Range(0, 11456 / 7).Select(i => i * 7)).Concat(Enumerable.Range(11400, 57));
        foreach (int cut in cuts.Distinct())
            Rejects(full[..cut]);
    }

    [Fact]
    public void TruncationInDataIsRejected()
    {
        var full = FormatTestFiles.StoriesGgufCopy();
        foreach (int cut in new[] { 11457, 11456 + 131071, 600_000, full.Length - 1 })
        {
            var ex = Rejects(full[..cut]);
            Assert.Contains("outside", ex.Message);
        }
    }

    [Fact]
    public void WrongMagic()
    {
        var image = Small().Build();
        image[0] = (byte)'X';
        Assert.Contains("magic", Rejects(image).Message);
    }

    [Fact]
    public void UnsupportedVersion()
    {
        var ex = Rejects(Small(version: 4).Build());
        Assert.Contains("version 4", ex.Message);
        var image = Small().Build();
        BinaryPrimitives.WriteUInt32BigEndian(image.AsSpan(4), 3);
        Assert.Contains("big-endian", Rejects(image).Message);
        Assert.Contains("version 0", Rejects(Small(version: 0).Build()).Message);
    }

    [Fact]
    public void StringLengthPastEndOfFile()
    {
        var b = new GgufBuilder().Add("general.name", 8, w => { w.Write(900_000UL); w.Write("short"u8); });
        var ex = Rejects(b.Build());
        Assert.Contains("general.name", ex.Message);
        Assert.Contains("900000", ex.Message);
    }

    [Fact]
    public void StringLongerThanCap()
    {
        var b = new GgufBuilder().Add("general.name", 8, w => w.Write((ulong)GgufFile.MaxStringBytes + 1));
        Assert.Contains("exceeds the limit", Rejects(b.Build()).Message);
    }

    [Fact]
    public void HugeTensorCount()
    {
        var b = Small();
        b.TensorCountOverride = 1UL << 60;
        Assert.Contains("tensor count", Rejects(b.Build()).Message);
    }

    [Fact]
    public void HugeMetadataCount()
    {
        var b = Small();
        b.MetadataCountOverride = 1UL << 60;
        Assert.Contains("metadata count", Rejects(b.Build()).Message);
    }

    [Fact]
    public void MetadataCountBeyondRemainingBytes()
    {
        var b = Small();
        b.MetadataCountOverride = 100_000; // under the cap, but 100000 entries cannot fit
        Assert.Contains("cannot fit", Rejects(b.Build()).Message);
    }

    [Fact]
    public void HugeArrayLength()
    {
        var b = new GgufBuilder().Add("tokenizer.ggml.tokens", 9, w => { w.Write(8u); w.Write(1UL << 60); });
        var ex = Rejects(b.Build());
        Assert.Contains("tokenizer.ggml.tokens", ex.Message);
        Assert.Contains("array length", ex.Message);
    }

    [Fact]
    public void ArrayLengthBeyondRemainingBytes()
    {
        var b = new GgufBuilder().Add("scores", 9, w => { w.Write(6u); w.Write(1000UL); w.Write(1f); });
        Assert.Contains("cannot fit", Rejects(b.Build()).Message);
    }

    [Fact]
    public void DimensionProductOverflow()
    {
        var b = new GgufBuilder();
        b.AddTensor("big", 0, [1UL << 40, 1UL << 40], new byte[32]);
        var ex = Rejects(b.Build());
        Assert.Contains("'big'", ex.Message);
        Assert.Contains("overflow", ex.Message);
    }

    [Fact]
    public void DimensionAboveInt64()
    {
        var b = new GgufBuilder();
        b.AddTensor("big", 0, [ulong.MaxValue], new byte[32]);
        Assert.Contains("dimension 0", Rejects(b.Build()).Message);
    }

    [Fact]
    public void TooManyDimensions()
    {
        var b = new GgufBuilder();
        b.AddTensor("t", 0, [1, 1, 1, 1, 2], new byte[8]);
        Assert.Contains("5 dimensions", Rejects(b.Build()).Message);
    }

    [Fact]
    public void TensorOffsetPastEndOfFile()
    {
        var b = Small();
        b.AddTensor("far", 0, [8], new byte[32]).OffsetOverride = 1UL << 40;
        var ex = Rejects(b.Build());
        Assert.Contains("'far'", ex.Message);
        Assert.Contains("outside", ex.Message);
    }

    [Fact]
    public void TensorOffsetNearUInt64MaxDoesNotWrap()
    {
        var b = Small();
        b.AddTensor("wrap", 0, [8], new byte[32]).OffsetOverride = ulong.MaxValue - 31; // a multiple of 32
        Assert.Contains("'wrap'", Rejects(b.Build()).Message);
    }

    [Fact]
    public void MisalignedOffset()
    {
        var b = Small();
        b.AddTensor("odd", 0, [1], new byte[4]).OffsetOverride = 4;
        var ex = Rejects(b.Build());
        Assert.Contains("'odd'", ex.Message);
        Assert.Contains("alignment", ex.Message);
    }

    [Fact]
    public void OverlappingTensors()
    {
        var b = new GgufBuilder();
        b.AddTensor("a", 0, [16], new byte[64]);
        b.AddTensor("b", 0, [16], new byte[64]).OffsetOverride = 32; // inside a
        var ex = Rejects(b.Build());
        Assert.Contains("overlaps", ex.Message);
        Assert.Contains("'a'", ex.Message);
        Assert.Contains("'b'", ex.Message);
    }

    [Fact]
    public void UnknownGgmlType()
    {
        var b = new GgufBuilder();
        b.AddTensor("mystery", 99, [32], new byte[32]);
        var ex = Rejects(b.Build());
        Assert.Contains("unsupported tensor type unknown type 99 (99) for tensor 'mystery'", ex.Message);
    }

    [Fact]
    public void UnsupportedKnownGgmlType()
    {
        var b = new GgufBuilder();
        b.AddTensor("blk.0.attn_q.weight", 12, [256], new byte[144]);
        Assert.Contains("unsupported tensor type Q4_K (12) for tensor 'blk.0.attn_q.weight'", Rejects(b.Build()).Message);
    }

    [Fact]
    public void Q8_0RowNotWholeBlocks()
    {
        var b = new GgufBuilder();
        b.AddTensor("q", 8, [48], new byte[68]);
        Assert.Contains("block size 32", Rejects(b.Build()).Message);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(3u)]
    [InlineData(48u)]
    [InlineData(1u << 30)]
    public void BadAlignmentValue(uint alignment)
    {
        var b = Small().AddUInt32("general.alignment", alignment);
        var ex = Rejects(b.Build());
        Assert.Contains("general.alignment", ex.Message);
        Assert.Contains($"alignment {alignment}", ex.Message);
    }

    [Fact]
    public void AlignmentOfWrongType()
    {
        var ex = Rejects(Small().AddUInt64("general.alignment", 32).Build());
        Assert.Contains("general.alignment", ex.Message);
        Assert.Contains("UInt64", ex.Message);
    }

    [Fact]
    public void DuplicateKey()
    {
        var ex = Rejects(Small().AddUInt32("x.count", 8).Build());
        Assert.Contains("'x.count'", ex.Message);
        Assert.Contains("duplicate", ex.Message);
    }

    [Fact]
    public void DuplicateTensorName()
    {
        var b = Small();
        b.AddTensor("w", 0, [1], new byte[4]);
        Assert.Contains("duplicate tensor name", Rejects(b.Build()).Message);
    }

    [Fact]
    public void UnknownValueType()
    {
        var ex = Rejects(Small().Add("odd.key", 13, w => w.Write(0u)).Build());
        Assert.Contains("'odd.key'", ex.Message);
        Assert.Contains("unknown value type 13", ex.Message);
    }

    [Fact]
    public void BoolOutOfRange()
    {
        Assert.Contains("neither 0 nor 1", Rejects(Small().Add("flag", 7, w => w.Write((byte)2)).Build()).Message);
    }

    [Fact]
    public void ArraysNestedTooDeep()
    {
        var b = Small().Add("deep", 9, w =>
        {
            for (int i = 0; i < 20; i++)
            {
                w.Write(9u);
                w.Write(1UL);
            }
            w.Write(4u);
            w.Write(0UL);
        });
        Assert.Contains("nested deeper", Rejects(b.Build()).Message);
    }

    [Fact]
    public void EmptyFileAndDirectoryErrors()
    {
        Assert.Contains("too short", Rejects([]).Message);
        Assert.Throws<FileNotFoundException>(() => GgufFile.Open(Path.Combine(Path.GetTempPath(), "caprese-no-such-file.gguf")));
    }

    [Fact]
    public void EmptyFileOnDiskIsAFormatError()
    {
        var path = Path.Combine(Path.GetTempPath(), $"caprese-empty-{Guid.NewGuid():N}.gguf");
        File.WriteAllBytes(path, []);
        try
        {
            var ex = Assert.Throws<ModelFormatException>(() => GgufFile.Open(path));
            Assert.Equal(path, ex.FilePath);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Version1CountsAreU32()
    {
        // The same logical content written as v1 must parse, and its v3 bytes must not parse as v1.
        using (var v1 = GgufFile.FromBytes(Small(version: 1).Build(), "v1"))
            Assert.Equal(7u, v1.GetValue("x.count").GetUInt32());
        var v3 = Small(version: 3).Build();
        BinaryPrimitives.WriteUInt32LittleEndian(v3.AsSpan(4), 1);
        Rejects(v3);
    }
}
