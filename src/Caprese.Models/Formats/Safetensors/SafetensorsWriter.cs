using System.Buffers.Binary;
using System.Text.Json;

namespace Caprese.Models.Formats.Safetensors;

/// <summary>A tensor to write: name, dtype, row-major shape and its little-endian bytes.</summary>
public sealed record SafetensorsTensorData(string Name, SafetensorsDType DType, IReadOnlyList<long> Shape, ReadOnlyMemory<byte> Data)
{
    /// <summary>f32 values stored as F32, F16 or BF16 (rounded to nearest even).</summary>
    public static SafetensorsTensorData FromFloats(string name, IReadOnlyList<long> shape, ReadOnlySpan<float> values,
        SafetensorsDType dtype = SafetensorsDType.F32)
    {
        var encoding = SafetensorsDTypeInfo.Encoding(dtype)
            ?? throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "only F32, F16 and BF16 can be written from floats");
        return new SafetensorsTensorData(name, dtype, shape, TensorConvert.EncodeF32(values, encoding));
    }
}

/// <summary>
/// Writes .safetensors files (adapters, test checkpoints). The file is written under a temporary
/// name in the same folder and renamed into place, so readers never see a half-written output.
/// </summary>
public static class SafetensorsWriter
{
    /// <summary>Writes <paramref name="tensors"/> in the given order (data contiguous, header padded to 8 bytes).</summary>
    public static void Write(string path, IEnumerable<SafetensorsTensorData> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(tensors);
        var list = tensors.ToList();
        var header = BuildHeader(list, metadata);

        AtomicFile.Write(path, stream =>
        {
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
            stream.Write(length);
            stream.Write(header);
            foreach (var t in list)
                stream.Write(t.Data.Span);
        });
    }

    private static byte[] BuildHeader(List<SafetensorsTensorData> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject(SafetensorsFile.MetadataKey);
                foreach (var (k, v) in metadata)
                    json.WriteString(k, v);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var t in tensors)
            {
                ArgumentNullException.ThrowIfNull(t);
                if (string.IsNullOrEmpty(t.Name) || t.Name == SafetensorsFile.MetadataKey)
                    throw new ArgumentException($"invalid tensor name \"{t.Name}\"", nameof(tensors));
                if (!names.Add(t.Name))
                    throw new ArgumentException($"tensor \"{t.Name}\" appears twice", nameof(tensors));
                long elements = 1;
                foreach (var d in t.Shape)
                {
                    ArgumentOutOfRangeException.ThrowIfNegative(d, nameof(t.Shape));
                    elements = checked(elements * d);
                }
                long bytes = checked(elements * SafetensorsDTypeInfo.Size(t.DType));
                if (bytes != t.Data.Length)
                    throw new ArgumentException($"tensor \"{t.Name}\": {t.DType} [{string.Join(", ", t.Shape)}] needs {bytes} bytes, data has {t.Data.Length}", nameof(tensors));

                json.WriteStartObject(t.Name);
                json.WriteString("dtype", t.DType.ToString());
                json.WriteStartArray("shape");
                foreach (var d in t.Shape)
                    json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + bytes);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += bytes;
            }
            json.WriteEndObject();
        }
        // Pad with spaces (allowed by the format) so the data section starts 8-byte aligned.
        int padding = (int)((8 - buffer.Length % 8) % 8);
        for (int i = 0; i < padding; i++)
            buffer.WriteByte((byte)' ');
        return buffer.ToArray();
    }
}
