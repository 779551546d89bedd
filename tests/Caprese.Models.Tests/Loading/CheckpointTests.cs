using Caprese.Models.Loading;
using Caprese.Models.Tests.Support;

namespace Caprese.Models.Tests.Loading;

public sealed class CheckpointTests
{
    [Fact]
    public void ReadsTheRealCheckpoint()
    {
        using var ckpt = Llama2cCheckpoint.Open(SharedFiles.Checkpoint);
        var h = ckpt.Header;
        Assert.Equal((64, 172, 5, 8, 4, 512, 512, true), (h.Dim, h.HiddenDim, h.Layers, h.Heads, h.KvHeads, h.Vocab, h.MaxSeqLen, h.SharedClassifier));
        Assert.False(ckpt.Contains(TensorNames.Classifier));
        Assert.Equal(512 * 64, ckpt.Tensor(TensorNames.TokenEmbedding).Length);
        Assert.Equal(172 * 64, ckpt.Layer(TensorNames.W1Gate, 4).Length);
        Assert.Equal(new FileInfo(SharedFiles.Checkpoint).Length, ckpt.Tensors[^1].ByteEnd);
        Assert.All(ckpt.Tensor(TensorNames.RmsFinal).ToArray(), v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void ASeparateClassifierIsReadWhenVocabIsNegative()
    {
        int[] header = [.. CheckpointBuilder.TinyHeader];
        header[5] = -header[5];
        using var dir = new TempDirectory();
        var path = dir.File("m.bin");
        File.WriteAllBytes(path, CheckpointBuilder.Valid(header));
        using var ckpt = Llama2cCheckpoint.Open(path);
        Assert.False(ckpt.Header.SharedClassifier);
        Assert.Equal(10 * 8, ckpt.Tensor(TensorNames.Classifier).Length);
    }

    [Fact]
    public void TruncatedFileNamesFileAndTensor()
    {
        var data = File.ReadAllBytes(SharedFiles.Checkpoint);
        using var dir = new TempDirectory();
        var path = dir.File("truncated.bin");
        File.WriteAllBytes(path, data[..(data.Length / 2)]);
        var ex = Assert.Throws<ModelFormatException>(() => Llama2cCheckpoint.Open(path));
        Assert.Equal(path, ex.FilePath);
        Assert.Contains(path, ex.Message);
        Assert.StartsWith("tensor ", ex.Item);

        File.WriteAllBytes(path, data[..^1]);
        ex = Assert.Throws<ModelFormatException>(() => Llama2cCheckpoint.Open(path));
        Assert.Equal("tensor freq_cis_imag", ex.Item);
    }

    [Fact]
    public void ExtraBytesAreRejected()
    {
        var data = File.ReadAllBytes(SharedFiles.Checkpoint);
        using var dir = new TempDirectory();
        var path = dir.File("extra.bin");
        File.WriteAllBytes(path, [.. data, 1, 2, 3, 4]);
        var ex = Assert.Throws<ModelFormatException>(() => Llama2cCheckpoint.Open(path));
        Assert.Equal(path, ex.FilePath);
        Assert.Contains("4 extra bytes", ex.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(27)]
    public void FilesShorterThanTheHeaderAreRejected(int length)
    {
        using var dir = new TempDirectory();
        var path = dir.File("short.bin");
        File.WriteAllBytes(path, new byte[length]);
        var ex = Assert.Throws<ModelFormatException>(() => Llama2cCheckpoint.Open(path));
        Assert.Equal(path, ex.FilePath);
        Assert.Equal("header", ex.Item);
    }

    public static TheoryData<int, int, string> BadHeaderFields() => new()
    {
        { 0, 0, "dim" }, { 0, -64, "dim" }, { 0, int.MaxValue, "dim" }, { 0, int.MinValue, "dim" },
        { 1, 0, "hidden_dim" }, { 1, -1, "hidden_dim" }, { 1, int.MaxValue, "hidden_dim" },
        { 2, 0, "n_layers" }, { 2, int.MaxValue, "n_layers" },
        { 3, 0, "n_heads" }, { 3, -8, "n_heads" }, { 3, 3, "header" }, { 3, 9, "n_heads" },
        { 4, 0, "n_kv_heads" }, { 4, 3, "header" }, { 4, 5, "n_kv_heads" },
        { 5, 0, "vocab_size" }, { 5, int.MinValue, "vocab_size" }, { 5, int.MaxValue, "vocab_size" },
        { 6, 0, "seq_len" }, { 6, -1, "seq_len" }, { 6, int.MaxValue, "seq_len" },
    };

    [Theory]
    [MemberData(nameof(BadHeaderFields))]
    public void BadHeaderFieldsAreNamed(int field, int value, string item)
    {
        int[] header = [8, 16, 2, 4, 1, 10, 4];
        header[field] = value;
        using var dir = new TempDirectory();
        var path = dir.File("bad-header.bin");
        File.WriteAllBytes(path, CheckpointBuilder.HeaderOnly(header, 4096));
        var ex = Assert.Throws<ModelFormatException>(() => Llama2cCheckpoint.Open(path));
        Assert.Equal(path, ex.FilePath);
        Assert.Equal(item, ex.Item);
    }

    [Fact]
    public void OddHeadSizeIsRejected()
    {
        using var dir = new TempDirectory();
        var path = dir.File("odd.bin");
        File.WriteAllBytes(path, CheckpointBuilder.HeaderOnly([6, 16, 2, 2, 1, 10, 4], 64));
        var ex = Assert.Throws<ModelFormatException>(() => Llama2cCheckpoint.Open(path));
        Assert.Contains("odd", ex.Message);
    }

    [Fact]
    public void HugeButCappedFieldsDoNotOverflow()
    {
        // Every field at its cap: sizes run into terabytes, which must be a clean format error.
        int[] header = [Llama2cHeader.MaxDim, Llama2cHeader.MaxHiddenDim, Llama2cHeader.MaxLayers, 2, 1, -Llama2cHeader.MaxVocab, Llama2cHeader.MaxSeqLenCap];
        var ex = Assert.Throws<ModelFormatException>(() => Llama2cCheckpoint.FromBytes(CheckpointBuilder.HeaderOnly(header, 16), "huge.bin"));
        Assert.Equal("huge.bin", ex.FilePath);
        Assert.StartsWith("tensor ", ex.Item);
    }

    [Fact]
    public void DisposedCheckpointRefusesAccess()
    {
        var ckpt = Llama2cCheckpoint.FromBytes(CheckpointBuilder.Valid(CheckpointBuilder.TinyHeader), "tiny");
        ckpt.Dispose();
        Assert.Throws<ObjectDisposedException>(() => ckpt.Tensor(TensorNames.Wq).Length);
    }
}
