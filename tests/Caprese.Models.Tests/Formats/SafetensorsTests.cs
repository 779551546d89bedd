using System.Buffers.Binary;
using System.Text;
using Caprese.Models.Formats.Safetensors;
using Caprese.Models.Loading;
using Caprese.Models.Tests.Support;

namespace Caprese.Models.Tests.Formats;

public sealed class SafetensorsTests
{
    private static readonly float[] Values = [1f, -2.5f, 0.1f, 3.75f, -0.001f, 65504f, 1e-3f, 42f];

    private static List<SafetensorsTensorData> SampleTensors() =>
    [
        SafetensorsTensorData.FromFloats("model.embed_tokens.weight", [2, 4], Values, SafetensorsDType.F32),
        SafetensorsTensorData.FromFloats("model.layers.0.mlp.up_proj.weight", [4, 2], Values, SafetensorsDType.F16),
        SafetensorsTensorData.FromFloats("model.norm.weight", [8], Values, SafetensorsDType.BF16),
        new("position_ids", SafetensorsDType.I64, [3], new byte[] { 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0 }),
        new("scalar", SafetensorsDType.F32, [], BitConverter.GetBytes(7f)),
        new("empty", SafetensorsDType.F32, [0, 5], Array.Empty<byte>()),
    ];

    [Fact]
    public void WriterRoundTrip()
    {
        using var dir = new TempDirectory();
        var path = dir.File("model.safetensors");
        SafetensorsWriter.Write(path, SampleTensors(), new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ünï" });
        Assert.Equal(["model.safetensors"], Directory.GetFiles(dir.Path).Select(Path.GetFileName)); // no temp file left

        using var st = SafetensorsFile.Open(path);
        Assert.Equal(0, st.DataOffset % 8);
        Assert.Equal("pt", st.Metadata["format"]);
        Assert.Equal("ünï", st.Metadata["note"]);
        Assert.Equal(6, st.Tensors.Count);
        Assert.Equal("model.embed_tokens.weight", st.Tensors[0].Name); // header order kept

        var f32 = st.GetTensor("model.embed_tokens.weight");
        Assert.Equal([2L, 4L], f32.Shape);
        Assert.Equal(SafetensorsDType.F32, f32.DType);
        Assert.Equal(Values, f32.DequantizeToF32());

        var f16 = st.GetTensor("model.layers.0.mlp.up_proj.weight");
        Assert.Equal(SafetensorsDType.F16, f16.DType);
        Assert.Equal(Values.Select(v => (float)(Half)v), f16.DequantizeToF32());
        Assert.Equal(Values.Select(v => (Half)v), f16.ToF16());

        var bf16 = st.GetTensor("model.norm.weight");
        var expected = Values.Select(BF16RoundNearestEven).ToArray();
        Assert.Equal(expected, bf16.DequantizeToF32());

        var ids = st.GetTensor("position_ids");
        Assert.False(ids.CanConvertToF32);
        Assert.Equal(2L, BinaryPrimitives.ReadInt64LittleEndian(ids.Data[8..]));
        var ex = Assert.Throws<ModelFormatException>(() => ids.DequantizeToF32());
        Assert.Contains("I64", ex.Message);

        Assert.Equal([7f], st.GetTensor("scalar").DequantizeToF32());
        Assert.Empty(st.GetTensor("scalar").Shape);
        Assert.Equal(0, st.GetTensor("empty").ByteLength);
        Assert.Empty(st.GetTensor("empty").DequantizeToF32());
        Assert.Contains("nope", Assert.Throws<ModelFormatException>(() => st.GetTensor("nope")).Message);
    }

    /// <summary>bf16 rounding computed independently: add half an ulp (ties to even) and drop the low 16 bits.</summary>
    private static float BF16RoundNearestEven(float v)
    {
        uint bits = BitConverter.SingleToUInt32Bits(v);
        uint lsb = (bits >> 16) & 1;
        uint rounded = (bits + 0x7FFF + lsb) & 0xFFFF0000;
        return BitConverter.UInt32BitsToSingle(rounded);
    }

    [Fact]
    public void WriterReplacesExistingFileAndRejectsBadInputWithoutWriting()
    {
        using var dir = new TempDirectory();
        var path = dir.File("adapter.safetensors");
        File.WriteAllText(path, "old");
        SafetensorsWriter.Write(path, SampleTensors());
        using (var st = SafetensorsFile.Open(path))
            Assert.Empty(st.Metadata);

        var other = dir.File("bad.safetensors");
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.Write(other, [new("x", SafetensorsDType.F32, [3], new byte[8])]));
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.Write(other, [.. SampleTensors(), .. SampleTensors()]));
        Assert.False(File.Exists(other));
        Assert.Single(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void ShardedCheckpointResolvesEveryTensorOnce()
    {
        using var dir = new TempDirectory();
        var tensors = SampleTensors();
        SafetensorsWriter.Write(dir.File("model-00001-of-00002.safetensors"), tensors.Take(3));
        SafetensorsWriter.Write(dir.File("model-00002-of-00002.safetensors"), tensors.Skip(3));
        WriteIndex(dir, tensors.Select((t, i) => (t.Name, i < 3 ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors")));

        using var ckpt = SafetensorsCheckpoint.Open(dir.Path);
        Assert.Equal(2, ckpt.Files.Count);
        Assert.Equal(6, ckpt.Tensors.Count);
        Assert.Equal(Path.Combine(dir.Path, SafetensorsCheckpoint.IndexFileName), ckpt.IndexPath);
        Assert.Equal("1234", ckpt.IndexMetadata["total_size"]);
        Assert.Equal(Values, ckpt.GetTensor("model.embed_tokens.weight").DequantizeToF32());
        Assert.EndsWith("model-00002-of-00002.safetensors", ckpt.GetTensor("scalar").FilePath);

        // The index file itself can be named too.
        using var viaIndex = SafetensorsCheckpoint.Open(ckpt.IndexPath!);
        Assert.Equal(6, viaIndex.Tensors.Count);
    }

    [Fact]
    public void SingleFileCheckpoint()
    {
        using var dir = new TempDirectory();
        SafetensorsWriter.Write(dir.File("model.safetensors"), SampleTensors());
        using var ckpt = SafetensorsCheckpoint.Open(dir.Path);
        Assert.Null(ckpt.IndexPath);
        Assert.Single(ckpt.Files);
        Assert.Equal(6, ckpt.Tensors.Count);
        using var direct = SafetensorsCheckpoint.Open(dir.File("model.safetensors"));
        Assert.Equal(6, direct.Tensors.Count);
        Assert.ThrowsAny<IOException>(() => SafetensorsCheckpoint.Open(Path.Combine(dir.Path, "sub-that-does-not-exist", "x.safetensors")));
    }

    [Fact]
    public void EmptyDirectoryIsNotACheckpoint()
    {
        using var dir = new TempDirectory();
        Assert.Throws<FileNotFoundException>(() => SafetensorsCheckpoint.Open(dir.Path));
    }

    [Fact]
    public void IndexReferencingMissingShard()
    {
        using var dir = new TempDirectory();
        SafetensorsWriter.Write(dir.File("a.safetensors"), SampleTensors().Take(1));
        WriteIndex(dir, [("model.embed_tokens.weight", "a.safetensors"), ("model.norm.weight", "b.safetensors")]);
        var ex = Assert.Throws<ModelFormatException>(() => SafetensorsCheckpoint.Open(dir.Path));
        Assert.Contains("b.safetensors", ex.Message);
        Assert.Contains("model.norm.weight", ex.Message);
    }

    [Fact]
    public void IndexListsTensorMissingFromItsShard()
    {
        using var dir = new TempDirectory();
        SafetensorsWriter.Write(dir.File("a.safetensors"), SampleTensors().Take(1));
        WriteIndex(dir, [("model.embed_tokens.weight", "a.safetensors"), ("lm_head.weight", "a.safetensors")]);
        var ex = Assert.Throws<ModelFormatException>(() => SafetensorsCheckpoint.Open(dir.Path));
        Assert.Contains("'lm_head.weight'", ex.Message);
        Assert.Contains("does not contain it", ex.Message);
    }

    [Theory]
    [InlineData("../model.safetensors")]
    [InlineData("sub/../../model.safetensors")]
    [InlineData("/etc/passwd")]
    [InlineData("")]
    public void ShardPathTraversal(string shard)
    {
        using var dir = new TempDirectory();
        var inner = Directory.CreateDirectory(Path.Combine(dir.Path, "ckpt")).FullName;
        SafetensorsWriter.Write(dir.File("model.safetensors"), SampleTensors()); // a real file outside
        File.WriteAllText(Path.Combine(inner, SafetensorsCheckpoint.IndexFileName),
            "{\"weight_map\": {\"model.norm.weight\": \"" + shard + "\"}}");
        var ex = Assert.Throws<ModelFormatException>(() => SafetensorsCheckpoint.Open(inner));
        Assert.Contains("shard path", ex.Message);
    }

    [Fact]
    public void MalformedIndex()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File(SafetensorsCheckpoint.IndexFileName), "{\"weight_map\": [1, 2]}");
        Assert.Contains("weight_map", Assert.Throws<ModelFormatException>(() => SafetensorsCheckpoint.Open(dir.Path)).Message);
        File.WriteAllText(dir.File(SafetensorsCheckpoint.IndexFileName), "{\"weight_map\": ");
        Assert.Contains("invalid JSON", Assert.Throws<ModelFormatException>(() => SafetensorsCheckpoint.Open(dir.Path)).Message);
    }

    private static void WriteIndex(TempDirectory dir, IEnumerable<(string Tensor, string Shard)> map)
    {
        var entries = string.Join(",\n    ", map.Select(m => $"\"{m.Tensor}\": \"{m.Shard}\""));
        File.WriteAllText(dir.File(SafetensorsCheckpoint.IndexFileName),
            $"{{\n  \"metadata\": {{\"total_size\": 1234}},\n  \"weight_map\": {{\n    {entries}\n  }}\n}}\n");
    }

    // ---- malformed single files, built by hand: header length, JSON, data ----

    /// <summary>A safetensors image from header JSON and a data section, written independently of the writer.</summary>
    internal static byte[] Image(string json, int dataBytes, ulong? headerLengthOverride = null)
    {
        var header = Encoding.UTF8.GetBytes(json);
        var image = new byte[8 + header.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(image, headerLengthOverride ?? (ulong)header.Length);
        header.CopyTo(image, 8);
        for (int i = 0; i < dataBytes; i++)
            image[8 + header.Length + i] = (byte)(i * 7);
        return image;
    }

    private static ModelFormatException Rejects(byte[] image)
    {
        var ex = Assert.Throws<ModelFormatException>(() => SafetensorsFile.FromBytes(image, "bad.safetensors").Dispose());
        Assert.Equal("bad.safetensors", ex.FilePath);
        return ex;
    }

    private const string TwoTensors = """{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F16", "shape": [2, 2], "data_offsets": [8, 16]}}""";

    [Fact]
    public void HandBuiltImageIsValid()
    {
        using var st = SafetensorsFile.FromBytes(Image(TwoTensors, 16), "ok");
        Assert.Equal([2L, 2L], st.GetTensor("b").Shape);
        Assert.Equal(8, st.GetTensor("b").Begin);
    }

    [Fact]
    public void HeaderLengthPastEndOfFile()
    {
        var ex = Rejects(Image(TwoTensors, 16, headerLengthOverride: 10_000));
        Assert.Contains("runs past the end", ex.Message);
    }

    [Fact]
    public void HeaderLengthOverCap()
    {
        Assert.Contains("exceeds the limit", Rejects(Image(TwoTensors, 16, headerLengthOverride: 1UL << 62)).Message);
    }

    [Fact]
    public void FileShorterThanLengthField()
    {
        Assert.Contains("too short", Rejects([1, 2, 3]).Message);
    }

    [Fact]
    public void InvalidJson()
    {
        Assert.Contains("invalid JSON", Rejects(Image("{\"a\": {\"dtype\": \"F32\",", 0)).Message);
    }

    [Fact]
    public void HeaderNotAnObject()
    {
        Assert.Contains("'{'", Rejects(Image("[1, 2, 3]", 0)).Message);
    }

    [Fact]
    public void DataOffsetsInconsistentWithShape()
    {
        var ex = Rejects(Image("""{"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}""", 8));
        Assert.Contains("'a'", ex.Message);
        Assert.Contains("needs 12", ex.Message);
    }

    [Fact]
    public void DataOffsetsPastEndOfFile()
    {
        var ex = Rejects(Image("""{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}""", 8));
        Assert.Contains("run past", ex.Message);
    }

    [Fact]
    public void Hole()
    {
        var ex = Rejects(Image("""{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}""", 12));
        Assert.Contains("hole", ex.Message);
        Assert.Contains("'b'", ex.Message);
    }

    [Fact]
    public void Overlap()
    {
        var ex = Rejects(Image("""{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}""", 8));
        Assert.Contains("overlap", ex.Message);
    }

    [Fact]
    public void TrailingBytesBelongToNoTensor()
    {
        Assert.Contains("belong to no tensor", Rejects(Image("""{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}""", 12)).Message);
    }

    [Fact]
    public void UnknownDType()
    {
        var ex = Rejects(Image("""{"w": {"dtype": "F4", "shape": [2], "data_offsets": [0, 1]}}""", 1));
        Assert.Contains("unsupported dtype \"F4\"", ex.Message);
        Assert.Contains("'w'", ex.Message);
    }

    [Fact]
    public void ShapeProductOverflow()
    {
        Assert.Contains("overflow", Rejects(Image("""{"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}}""", 0)).Message);
    }

    [Fact]
    public void NegativeOrFractionalDimension()
    {
        Assert.Contains("shape[0]", Rejects(Image("""{"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 0]}}""", 0)).Message);
        Assert.Contains("shape[1]", Rejects(Image("""{"w": {"dtype": "F32", "shape": [1, 1.5], "data_offsets": [0, 4]}}""", 4)).Message);
    }

    [Fact]
    public void MetadataMustBeStrings()
    {
        Assert.Contains("__metadata__", Rejects(Image("""{"__metadata__": {"total": 5}}""", 0)).Message);
    }

    [Fact]
    public void DuplicateTensor()
    {
        Assert.Contains("twice", Rejects(Image("""{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, "a": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}}""", 2)).Message);
    }

    [Fact]
    public void MissingFields()
    {
        Assert.Contains("dtype", Rejects(Image("""{"a": {"shape": [1], "data_offsets": [0, 1]}}""", 1)).Message);
        Assert.Contains("shape", Rejects(Image("""{"a": {"dtype": "U8", "data_offsets": [0, 1]}}""", 1)).Message);
        Assert.Contains("data_offsets", Rejects(Image("""{"a": {"dtype": "U8", "shape": [1]}}""", 1)).Message);
    }

    [Fact]
    public void TrailingSpacePaddingIsAllowed()
    {
        using var st = SafetensorsFile.FromBytes(Image(TwoTensors + "      ", 16), "padded");
        Assert.Equal(2, st.Tensors.Count);
    }
}
