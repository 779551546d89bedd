using System.Buffers.Binary;
using Caprese.Models.Formats.Gguf;
using Caprese.Models.Loading;

namespace Caprese.Models.Tests.Formats;

public sealed class GgufReaderTests
{
    [Fact]
    public void StoriesGgufHeaderAndMetadata()
    {
        using var gguf = GgufFile.Open(FormatTestFiles.StoriesGguf);
        Assert.Equal(1u, gguf.Version);
        Assert.Equal(32u, gguf.Alignment);
        Assert.Equal(11456, gguf.DataOffset); // infos end at 11450, aligned up to 32
        Assert.Equal(18, gguf.Metadata.Count);
        Assert.Equal("general.architecture", gguf.MetadataKeys[0]);
        Assert.Equal("llama", gguf.Architecture);
        Assert.Equal("tinyllamas-stories-260k", gguf.GetValue("general.name").GetString());
        Assert.Equal(64u, gguf.GetValue("llama.embedding_length").GetUInt32());
        Assert.Equal(5u, gguf.GetValue("llama.block_count").GetUInt32());
        Assert.Equal(172u, gguf.GetValue("llama.feed_forward_length").GetUInt32());
        Assert.Equal(8u, gguf.GetValue("llama.attention.head_count").GetUInt32());
        Assert.Equal(4u, gguf.GetValue("llama.attention.head_count_kv").GetUInt32());
        Assert.Equal(512L, gguf.GetValue("llama.context_length").GetInteger());
        Assert.Equal(1e-5f, gguf.GetValue("llama.attention.layer_norm_rms_epsilon").GetFloat32());
        Assert.Equal(1e-5, gguf.GetValue("llama.attention.layer_norm_rms_epsilon").GetNumber(), 1e-9);

        var tokens = gguf.GetValue("tokenizer.ggml.tokens");
        Assert.Equal(GgufValueType.Array, tokens.Type);
        Assert.Equal(GgufValueType.String, tokens.ElementType);
        Assert.Equal(512, tokens.ArrayLength);
        var strings = tokens.GetArray<string>();
        Assert.Equal(["<unk>", "<s>", "</s>", "<0x00>"], strings[..4]);
        Assert.Equal(512, gguf.GetValue("tokenizer.ggml.scores").GetArray<float>().Length);
        var types = gguf.GetValue("tokenizer.ggml.token_type").GetArraySpan<int>();
        Assert.Equal([2, 3, 3, 6], types[..4].ToArray());
        Assert.Equal(1u, gguf.GetValue("tokenizer.ggml.bos_token_id").GetUInt32());
        Assert.Equal(2u, gguf.GetValue("tokenizer.ggml.eos_token_id").GetUInt32());
    }

    [Fact]
    public void StoriesGgufTensors()
    {
        using var gguf = GgufFile.Open(FormatTestFiles.StoriesGguf);
        Assert.Equal(48, gguf.Tensors.Count); // 1 + 5 layers * 9 + output_norm + output
        Assert.All(gguf.Tensors, t => Assert.Equal(GgmlType.F32, t.Type));
        Assert.Equal(gguf.FileLength, gguf.Tensors.Max(t => t.FileOffset + t.ByteLength)); // data ends the file

        void Check(string name, params long[] shape)
        {
            var t = gguf.GetTensor(name);
            Assert.Equal(shape, t.Shape);
            Assert.Equal(shape.Reverse(), t.Dimensions);
            Assert.Equal(shape.Aggregate(1L, (a, b) => a * b) * 4, t.ByteLength);
            Assert.Equal(0, t.RelativeOffset % 32);
        }
        Check("token_embd.weight", 512, 64);
        Check("blk.0.attn_q.weight", 64, 64);
        Check("blk.0.attn_k.weight", 32, 64);
        Check("blk.0.attn_v.weight", 32, 64);
        Check("blk.0.attn_output.weight", 64, 64);
        Check("blk.0.ffn_gate.weight", 172, 64);
        Check("blk.0.ffn_down.weight", 64, 172);
        Check("blk.0.ffn_up.weight", 172, 64);
        Check("blk.4.attn_norm.weight", 64);
        Check("blk.4.ffn_norm.weight", 64);
        Check("output_norm.weight", 64);
        Check("output.weight", 512, 64);
        Assert.Equal(0, gguf.GetTensor("token_embd.weight").RelativeOffset);
        Assert.Equal(11456, gguf.GetTensor("token_embd.weight").FileOffset);

        var missing = Assert.Throws<ModelFormatException>(() => gguf.GetTensor("blk.5.attn_q.weight"));
        Assert.Contains("blk.5.attn_q.weight", missing.Message);
    }

    /// <summary>
    /// Independent cross-check: the llama2.c export of the same model stores the token embedding
    /// [512 x 64] f32 right after its 28-byte header, and the final norm after the layer tensors.
    /// </summary>
    [Fact]
    public void StoriesGgufMatchesLlama2cCheckpointBitForBit()
    {
        var bin = File.ReadAllBytes(FormatTestFiles.StoriesBin);
        int dim = BinaryPrimitives.ReadInt32LittleEndian(bin), hidden = BinaryPrimitives.ReadInt32LittleEndian(bin.AsSpan(4));
        int layers = BinaryPrimitives.ReadInt32LittleEndian(bin.AsSpan(8)), kvHeads = BinaryPrimitives.ReadInt32LittleEndian(bin.AsSpan(16));
        int heads = BinaryPrimitives.ReadInt32LittleEndian(bin.AsSpan(12)), vocab = BinaryPrimitives.ReadInt32LittleEndian(bin.AsSpan(20));
        Assert.Equal((64, 172, 5, 8, 4, 512), (dim, hidden, layers, heads, kvHeads, vocab));
        int kvDim = dim / heads * kvHeads;

        using var gguf = GgufFile.Open(FormatTestFiles.StoriesGguf);
        long embedding = 28, rmsAtt = embedding + (long)vocab * dim * 4, wq = rmsAtt + (long)layers * dim * 4;
        long rmsFinal = wq + (long)layers * (dim * dim * 2 + kvDim * dim * 2 + dim + hidden * dim * 3) * 4;

        Assert.True(bin.AsSpan((int)embedding, vocab * dim * 4).SequenceEqual(gguf.GetTensor("token_embd.weight").Data));
        Assert.True(bin.AsSpan((int)rmsAtt, dim * 4).SequenceEqual(gguf.GetTensor("blk.0.attn_norm.weight").Data));
        Assert.True(bin.AsSpan((int)wq, dim * dim * 4).SequenceEqual(gguf.GetTensor("blk.0.attn_q.weight").Data));
        Assert.True(bin.AsSpan((int)rmsFinal, dim * 4).SequenceEqual(gguf.GetTensor("output_norm.weight").Data));

        var f32 = gguf.GetTensor("token_embd.weight").DequantizeToF32();
        for (int i = 0; i < f32.Length; i++)
            Assert.Equal(BinaryPrimitives.ReadSingleLittleEndian(bin.AsSpan(28 + i * 4)), f32[i]);
    }

    [Fact]
    public void FromBytesMatchesOpen()
    {
        using var a = GgufFile.Open(FormatTestFiles.StoriesGguf);
        using var b = GgufFile.FromBytes(FormatTestFiles.StoriesGgufCopy(), "in-memory");
        Assert.Equal(a.Tensors.Select(t => (t.Name, t.FileOffset, t.ByteLength)), b.Tensors.Select(t => (t.Name, t.FileOffset, t.ByteLength)));
        Assert.True(a.Tensors[^1].Data.SequenceEqual(b.Tensors[^1].Data));
    }

    [Fact]
    public void DisposedFileRefusesData()
    {
        var gguf = GgufFile.Open(FormatTestFiles.StoriesGguf);
        var t = gguf.Tensors[0];
        gguf.Dispose();
        Assert.Throws<ObjectDisposedException>(() => t.Data.Length);
        gguf.Dispose(); // idempotent
    }

    [Theory]
    [InlineData(2u)]
    [InlineData(3u)]
    public void SynthesizedFileDequantizesF16BF16AndQ8_0(uint version)
    {
        var rng = new Random(42);
        // F16: [3, 8] row-major -> GGUF dims [8, 3].
        var f16Values = Enumerable.Range(0, 24).Select(_ => (float)(rng.NextDouble() * 8 - 4)).ToArray();
        var f16Bytes = new byte[24 * 2];
        for (int i = 0; i < 24; i++)
            BinaryPrimitives.WriteUInt16LittleEndian(f16Bytes.AsSpan(i * 2), BitConverter.HalfToUInt16Bits((Half)f16Values[i]));

        // BF16: bit patterns chosen directly; the expected f32 is the pattern shifted into the top half.
        var bf16Bits = Enumerable.Range(0, 16).Select(_ => (ushort)rng.Next(0x0000, 0x7F7F)).ToArray();
        bf16Bits[0] = 0x3F80; // 1.0
        bf16Bits[1] = 0xC000; // -2.0
        var bf16Bytes = new byte[16 * 2];
        for (int i = 0; i < 16; i++)
            BinaryPrimitives.WriteUInt16LittleEndian(bf16Bytes.AsSpan(i * 2), bf16Bits[i]);

        // Q8_0: [2, 64] = 4 blocks of (f16 scale, 32 x int8).
        var scales = new[] { (Half)0.5f, (Half)(-0.125f), (Half)3.0f, (Half)0.0078125f };
        var quants = Enumerable.Range(0, 128).Select(_ => (sbyte)rng.Next(-128, 128)).ToArray();
        var q8Bytes = new byte[4 * 34];
        for (int b = 0; b < 4; b++)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(q8Bytes.AsSpan(b * 34), BitConverter.HalfToUInt16Bits(scales[b]));
            for (int i = 0; i < 32; i++)
                q8Bytes[b * 34 + 2 + i] = (byte)quants[b * 32 + i];
        }

        var builder = new GgufBuilder { Version = version }
            .AddString("general.architecture", "test")
            .AddUInt64("test.u64", ulong.MaxValue)
            .AddInt64("test.i64", -5)
            .AddFloat64("test.f64", 2.5)
            .AddBool("test.bool", true)
            .AddUInt8("test.u8", 200)
            .AddInt8("test.i8", -100)
            .AddUInt16("test.u16", 60000)
            .AddInt16("test.i16", -30000)
            .AddInt32("test.i32", -7)
            .AddStringArray("test.strings", ["a", "bé", ""])
            .Add("test.nested", 9, w =>
            {
                // An array of two arrays of u32: [[1, 2], [3]].
                w.Write(9u);
                w.Write(2UL);
                w.Write(4u); w.Write(2UL); w.Write(1u); w.Write(2u);
                w.Write(4u); w.Write(1UL); w.Write(3u);
            });
        builder.AddTensor("f16", 1, [8, 3], f16Bytes);
        builder.AddTensor("bf16", 30, [16], bf16Bytes);
        builder.AddTensor("q8", 8, [64, 2], q8Bytes);
        using var gguf = GgufFile.FromBytes(builder.Build(), $"synth-v{version}");

        Assert.Equal(version, gguf.Version);
        Assert.Equal(ulong.MaxValue, gguf.GetValue("test.u64").GetUInt64());
        Assert.Equal(-5, gguf.GetValue("test.i64").GetInt64());
        Assert.Equal(2.5, gguf.GetValue("test.f64").GetFloat64());
        Assert.True(gguf.GetValue("test.bool").GetBool());
        Assert.Equal(200, gguf.GetValue("test.u8").GetUInt8());
        Assert.Equal(-100, gguf.GetValue("test.i8").GetInt8());
        Assert.Equal(60000, gguf.GetValue("test.u16").GetUInt16());
        Assert.Equal(-30000, gguf.GetValue("test.i16").GetInt16());
        Assert.Equal(-7, gguf.GetValue("test.i32").GetInt32());
        Assert.Equal(-7L, gguf.GetValue("test.i32").GetInteger());
        Assert.Equal(["a", "bé", ""], gguf.GetValue("test.strings").GetArray<string>());
        var nested = gguf.GetValue("test.nested").GetArray<GgufValue>();
        Assert.Equal([1u, 2u], nested[0].GetArray<uint>());
        Assert.Equal([3u], nested[1].GetArray<uint>());
        Assert.Equal("test.nested[1]", nested[1].Key);
        Assert.Throws<ModelFormatException>(() => gguf.GetValue("test.u64").GetInteger()); // > long.MaxValue

        var f16 = gguf.GetTensor("f16");
        Assert.Equal([3L, 8L], f16.Shape);
        Assert.Equal(GgmlType.F16, f16.Type);
        var f16Out = f16.DequantizeToF32();
        for (int i = 0; i < 24; i++)
            Assert.Equal((float)(Half)f16Values[i], f16Out[i]);
        Assert.Equal(f16Values.Select(v => (Half)v), f16.ToF16());

        var bf16 = gguf.GetTensor("bf16");
        var bf16Out = bf16.DequantizeToF32();
        Assert.Equal(1.0f, bf16Out[0]);
        Assert.Equal(-2.0f, bf16Out[1]);
        for (int i = 0; i < 16; i++)
            Assert.Equal(BitConverter.Int32BitsToSingle(bf16Bits[i] << 16), bf16Out[i]);
        Assert.Equal(bf16Bits, bf16.ToBF16()); // exact round trip

        var q8 = gguf.GetTensor("q8");
        Assert.Equal([2L, 64L], q8.Shape);
        Assert.Equal(136, q8.ByteLength);
        Assert.Equal(32, q8.BlockElements);
        var q8Out = new float[128];
        q8.DequantizeTo(q8Out);
        for (int i = 0; i < 128; i++)
            Assert.Equal((float)scales[i / 32] * quants[i], q8Out[i]);

        // The second row alone, then a range that is not block aligned.
        var row = new float[64];
        q8.DequantizeRange(64, row);
        Assert.Equal(q8Out[64..], row);
        Assert.Throws<ArgumentException>(() => q8.DequantizeRange(16, new float[32]));
    }

    [Fact]
    public void StrictGettersNameTheKey()
    {
        using var gguf = GgufFile.Open(FormatTestFiles.StoriesGguf);
        var wrong = Assert.Throws<ModelFormatException>(() => gguf.GetValue("llama.block_count").GetString());
        Assert.Contains("llama.block_count", wrong.Message);
        Assert.Contains("UInt32", wrong.Message);
        var array = Assert.Throws<ModelFormatException>(() => gguf.GetValue("tokenizer.ggml.scores").GetArray<int>());
        Assert.Contains("tokenizer.ggml.scores", array.Message);
        var missing = Assert.Throws<ModelFormatException>(() => gguf.GetValue("llama.rope.freq_base"));
        Assert.Contains("llama.rope.freq_base", missing.Message);
        Assert.Equal(FormatTestFiles.StoriesGguf, missing.FilePath);
    }

    [Fact]
    public void CustomAlignmentIsHonoured()
    {
        var b = new GgufBuilder { LayoutAlignment = 64 }.AddUInt32("general.alignment", 64);
        b.AddTensor("a", 0, [3], new byte[12]);
        b.AddTensor("b", 0, [5], new byte[20]);
        using var gguf = GgufFile.FromBytes(b.Build(out long dataStart), "aligned");
        Assert.Equal(64u, gguf.Alignment);
        Assert.Equal(dataStart, gguf.DataOffset);
        Assert.Equal(0, gguf.DataOffset % 64);
        Assert.Equal(64, gguf.GetTensor("b").RelativeOffset);
    }
}
