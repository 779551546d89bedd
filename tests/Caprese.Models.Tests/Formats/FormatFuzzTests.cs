using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;
using Caprese.Models.Formats;
using Caprese.Models.Formats.Gguf;
using Caprese.Models.Formats.Safetensors;
using Caprese.Models.Loading;
using Caprese.Models.Tests.Support;

namespace Caprese.Models.Tests.Formats;

/// <summary>
/// Seeded mutations of a real GGUF and a synthesized safetensors file. Every open must either
/// succeed (and then every tensor must read and convert) or throw <see cref="ModelFormatException"/>;
/// anything else fails with the seed, iteration and mutation so it can be replayed.
/// </summary>
public sealed class FormatFuzzTests
{
    private const int Iterations = 3000;
    private const int GgufSeed = 20261123;
    private const int SafetensorsSeed = 1123;

    private static readonly ulong[] Extremes =
    [
        0, 1, 2, 3, 31, 32, 33, 0x7F, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1UL << 32, (1UL << 32) + 1,
        1UL << 40, 1UL << 60, 1UL << 62, 1UL << 63, ulong.MaxValue, ulong.MaxValue - 1, long.MaxValue,
    ];

    [Fact]
    public void MutatedGgufOpensOrFailsCleanly()
    {
        var original = FormatTestFiles.StoriesGgufCopy();
        var fields = GgufFieldMap(original, out long headerEnd);
        Assert.True(fields.Count > 1000, "the field map missed most of the header");
        var rng = new Random(GgufSeed);
        // Same-length mutations reuse one scratch copy and conversions one buffer: allocating
        // megabyte arrays per iteration would dominate the run time.
        var scratch = new byte[original.Length];
        var floats = new float[original.Length / 4];
        int accepted = 0, rejected = 0;
        for (int i = 0; i < Iterations; i++)
        {
            var (data, description) = MutateGguf(original, scratch, fields, headerEnd, rng);
            try
            {
                using var gguf = GgufFile.FromBytes(data, $"mutation {i}");
                foreach (var key in gguf.MetadataKeys)
                    _ = gguf.Metadata[key].ToString();
                _ = gguf.Architecture;
                foreach (var t in gguf.Tensors)
                {
                    Assert.Equal(t.ByteLength, t.Data.Length);
                    t.DequantizeTo(floats.AsSpan(0, checked((int)t.ElementCount)));
                }
                accepted++;
            }
            catch (ModelFormatException ex)
            {
                Assert.Equal($"mutation {i}", ex.FilePath);
                rejected++;
            }
            catch (Exception ex)
            {
                Assert.Fail($"GGUF fuzz seed {GgufSeed} iteration {i} ({description}) threw {ex.GetType().Name}: {ex}");
            }
        }
        Assert.True(accepted > 200 && rejected > 1000, $"accepted {accepted}, rejected {rejected}: the mutation mix is off");
    }

    [Fact]
    public void MutatedSafetensorsOpensOrFailsCleanly()
    {
        var original = SynthesizedSafetensors();
        long headerLength = (long)BinaryPrimitives.ReadUInt64LittleEndian(original);
        var rng = new Random(SafetensorsSeed);
        int accepted = 0, rejected = 0;
        for (int i = 0; i < Iterations; i++)
        {
            var (data, description) = MutateSafetensors(original, (int)headerLength, rng);
            try
            {
                using var st = SafetensorsFile.FromBytes(data, $"mutation {i}");
                foreach (var t in st.Tensors)
                {
                    Assert.Equal(t.ByteLength, t.Data.Length);
                    if (t.CanConvertToF32)
                        _ = t.DequantizeToF32();
                }
                accepted++;
            }
            catch (ModelFormatException ex)
            {
                Assert.Equal($"mutation {i}", ex.FilePath);
                rejected++;
            }
            catch (Exception ex)
            {
                Assert.Fail($"safetensors fuzz seed {SafetensorsSeed} iteration {i} ({description}) threw {ex.GetType().Name}: {ex}");
            }
        }
        Assert.True(accepted > 200 && rejected > 1000, $"accepted {accepted}, rejected {rejected}: the mutation mix is off");
    }

    // ---- GGUF ----

    private readonly record struct Field(int Offset, int Size, string Name);

    /// <summary>
    /// Offsets of every count, length, type, dimension and offset field, found by an independent
    /// walk of the file (v1: counts and lengths are u32), so mutations can target them.
    /// </summary>
    private static List<Field> GgufFieldMap(byte[] d, out long headerEnd)
    {
        var fields = new List<Field>();
        int p = 8;
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(d.AsSpan(4));
        int w = version == 1 ? 4 : 8;
        ulong Read(int size, string name)
        {
            fields.Add(new Field(p, size, name));
            ulong v = size == 4 ? BinaryPrimitives.ReadUInt32LittleEndian(d.AsSpan(p)) : BinaryPrimitives.ReadUInt64LittleEndian(d.AsSpan(p));
            p += size;
            return v;
        }
        void Str(string name)
        {
            int n = (int)Read(w, name + " length"); // read first: Read moves p
            p += n;
        }
        void Value(uint type, string key)
        {
            switch (type)
            {
                case 0 or 1 or 7: p += 1; break;
                case 2 or 3: p += 2; break;
                case 4 or 5 or 6: Read(4, key + " value"); break;
                case 10 or 11 or 12: Read(8, key + " value"); break;
                case 8: Str(key); break;
                case 9:
                    uint et = (uint)Read(4, key + " element type");
                    ulong n = Read(w, key + " array length");
                    for (ulong i = 0; i < n; i++)
                        Value(et, key + "[]");
                    break;
                default: throw new InvalidOperationException($"type {type}");
            }
        }

        ulong tensors = Read(w, "tensor count");
        ulong kvs = Read(w, "metadata count");
        for (ulong i = 0; i < kvs; i++)
        {
            int keyStart = p;
            Str("key");
            string key = Encoding.UTF8.GetString(d, keyStart + w, p - keyStart - w);
            Value((uint)Read(4, key + " type"), key);
        }
        for (ulong i = 0; i < tensors; i++)
        {
            Str("tensor name");
            uint nd = (uint)Read(4, "n_dims");
            for (uint k = 0; k < nd; k++)
                Read(w, $"dim {k}");
            Read(4, "ggml type");
            Read(8, "tensor offset");
        }
        headerEnd = p;
        return fields;
    }

    private static (byte[] Data, string Description) MutateGguf(byte[] original, byte[] scratch, List<Field> fields, long headerEnd, Random rng)
    {
        var data = scratch;
        original.CopyTo(data, 0);
        switch (rng.Next(7))
        {
            case 0:
            {
                int n = rng.Next(1, 5);
                var sb = new StringBuilder("header byte flips:");
                for (int k = 0; k < n; k++)
                {
                    int at = rng.Next((int)headerEnd);
                    data[at] = (byte)rng.Next(256);
                    sb.Append(' ').Append(at);
                }
                return (data, sb.ToString());
            }
            case 1:
            case 2:
            {
                var f = fields[rng.Next(fields.Count)];
                ulong value = PickValue(data, f, rng);
                WriteField(data, f, value);
                return (data, $"field '{f.Name}' at {f.Offset} set to {value}");
            }
            case 3:
            {
                var sb = new StringBuilder("two fields:");
                for (int k = 0; k < 2; k++)
                {
                    var f = fields[rng.Next(fields.Count)];
                    ulong value = PickValue(data, f, rng);
                    WriteField(data, f, value);
                    sb.Append($" '{f.Name}'@{f.Offset}={value}");
                }
                return (data, sb.ToString());
            }
            case 4:
            {
                int cut = rng.Next(2) == 0 ? rng.Next((int)headerEnd + 64) : rng.Next(original.Length);
                return (original[..cut], $"truncated to {cut} bytes");
            }
            case 5:
            {
                int at = rng.Next((int)headerEnd, original.Length);
                data[at] ^= (byte)rng.Next(1, 256);
                return (data, $"data byte flip at {at}");
            }
            default:
            {
                int at = rng.Next((int)headerEnd);
                int n = rng.Next(1, 9);
                if (rng.Next(2) == 0)
                    return ([.. original[..at], .. original[(at + n)..]], $"deleted {n} bytes at {at}");
                var junk = new byte[n];
                rng.NextBytes(junk);
                return ([.. original[..at], .. junk, .. original[at..]], $"inserted {n} bytes at {at}");
            }
        }
    }

    private static ulong PickValue(byte[] data, Field f, Random rng)
    {
        ulong current = f.Size == 4 ? BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(f.Offset)) : BinaryPrimitives.ReadUInt64LittleEndian(data.AsSpan(f.Offset));
        return rng.Next(5) switch
        {
            0 => current + 1,
            1 => current - 1,
            2 => current * 2,
            3 => (ulong)rng.NextInt64(),
            _ => Extremes[rng.Next(Extremes.Length)],
        };
    }

    private static void WriteField(byte[] data, Field f, ulong value)
    {
        if (f.Size == 4)
            BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(f.Offset), (uint)value);
        else
            BinaryPrimitives.WriteUInt64LittleEndian(data.AsSpan(f.Offset), value);
    }

    // ---- safetensors ----

    private static byte[] SynthesizedSafetensors()
    {
        var rng = new Random(7);
        float[] Floats(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        using var dir = new TempDirectory();
        var path = dir.File("fuzz.safetensors");
        SafetensorsWriter.Write(path,
        [
            SafetensorsTensorData.FromFloats("model.embed_tokens.weight", [16, 8], Floats(128)),
            SafetensorsTensorData.FromFloats("model.layers.0.self_attn.q_proj.weight", [8, 8], Floats(64), SafetensorsDType.F16),
            SafetensorsTensorData.FromFloats("model.norm.weight", [32], Floats(32), SafetensorsDType.BF16),
            new("position_ids", SafetensorsDType.I64, [4], new byte[32]),
            new("mask", SafetensorsDType.U8, [3], new byte[] { 1, 0, 1 }),
        ], new Dictionary<string, string> { ["format"] = "pt" });
        return File.ReadAllBytes(path);
    }

    private static readonly string[] NumberReplacements =
        ["0", "1", "-1", "7", "4294967296", "9223372036854775807", "9223372036854775808", "18446744073709551615",
         "99999999999999999999999", "1e300", "1.5", "-0", "2147483648", "null", "\"8\"", "[]", "{}"];

    private static (byte[] Data, string Description) MutateSafetensors(byte[] original, int headerLength, Random rng)
    {
        var data = (byte[])original.Clone();
        int headerEnd = 8 + headerLength;
        switch (rng.Next(7))
        {
            case 0:
            {
                int at = rng.Next(8, headerEnd);
                data[at] = (byte)rng.Next(256);
                return (data, $"header byte {at} randomised");
            }
            case 1:
            {
                const string interesting = "0123456789-\"{}[],: e.";
                int at = rng.Next(8, headerEnd);
                data[at] = (byte)interesting[rng.Next(interesting.Length)];
                return (data, $"header byte {at} set to '{(char)data[at]}'");
            }
            case 2:
            {
                ulong value = rng.Next(3) switch
                {
                    0 => (ulong)(headerLength + rng.Next(-16, 17)),
                    1 => (ulong)rng.NextInt64(),
                    _ => Extremes[rng.Next(Extremes.Length)],
                };
                BinaryPrimitives.WriteUInt64LittleEndian(data, value);
                return (data, $"header length set to {value}");
            }
            case 3:
            {
                int cut = rng.Next(original.Length);
                return (original[..cut], $"truncated to {cut} bytes");
            }
            case 4:
            case 5:
            {
                // Replace one number of the JSON with an extreme, keeping the length prefix right
                // most of the time so the JSON content itself is what gets tested.
                var json = Encoding.UTF8.GetString(original, 8, headerLength);
                var numbers = Regex.Matches(json, "[0-9]+");
                var m = numbers[rng.Next(numbers.Count)];
                string replacement = NumberReplacements[rng.Next(NumberReplacements.Length)];
                var mutated = Encoding.UTF8.GetBytes(json[..m.Index] + replacement + json[(m.Index + m.Length)..]);
                bool fixLength = rng.Next(4) != 0;
                var image = new byte[8 + mutated.Length + (original.Length - headerEnd)];
                BinaryPrimitives.WriteUInt64LittleEndian(image, fixLength ? (ulong)mutated.Length : (ulong)headerLength);
                mutated.CopyTo(image, 8);
                original.AsSpan(headerEnd).CopyTo(image.AsSpan(8 + mutated.Length));
                return (image, $"number '{m.Value}' at {m.Index} replaced by {replacement} (length {(fixLength ? "fixed" : "stale")})");
            }
            default:
            {
                int at = rng.Next(headerEnd, original.Length);
                data[at] ^= (byte)rng.Next(1, 256);
                return (data, $"data byte flip at {at}");
            }
        }
    }

    // ---- the bounded reader itself ----

    [Fact]
    public void SpanReaderRejectsEveryOverrun()
    {
        var bytes = new byte[] { 1, 2, 3, 4, 5, 6, 7 };
        var r = new SpanReader(bytes, "r.bin", baseOffset: 100) { Item = "thing" };
        Assert.Equal(0x04030201u, r.ReadUInt32("a"));
        Assert.Equal(104, r.Position);
        try
        {
            r.ReadUInt64("b");
            Assert.Fail("no overrun reported");
        }
        catch (ModelFormatException ex)
        {
            Assert.Equal("r.bin", ex.FilePath);
            Assert.Equal("thing", ex.Item);
            Assert.Contains("b at offset 104 needs 8 bytes but only 3 remain", ex.Message);
        }
        try
        {
            r.ReadBytes(ulong.MaxValue, "c");
            Assert.Fail("no overrun reported");
        }
        catch (ModelFormatException ex)
        {
            Assert.Contains("c at offset 104", ex.Message);
        }
    }

    [Fact]
    public void MappedFileSliceIsChecked()
    {
        using var m = MappedFile.FromBytes([1, 2, 3, 4], "m");
        Assert.Equal([2, 3], m.Slice(1, 2).ToArray());
        Assert.Equal(0, m.Slice(4, 0).Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => m.Slice(3, 2).Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => m.Slice(-1, 1).Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => m.Slice(1, long.MaxValue).Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => m.Slice(long.MaxValue, 1).Length);
        Assert.False(m.Contains(2, long.MaxValue));
    }

    [Fact]
    public void MappedFileMapsARealFile()
    {
        using var m = MappedFile.Open(FormatTestFiles.StoriesGguf);
        Assert.Equal(new FileInfo(FormatTestFiles.StoriesGguf).Length, m.Length);
        Assert.Equal("GGUF"u8.ToArray(), m.Slice(0, 4).ToArray());
        Assert.Equal(m.Length, m.Slice(0, m.Length).Length);
        m.Dispose();
        Assert.Throws<ObjectDisposedException>(() => m.Slice(0, 4).Length);
    }
}
