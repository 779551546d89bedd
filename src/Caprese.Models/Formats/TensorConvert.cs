using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Caprese.Models.Formats;

/// <summary>
/// Element conversions between the on-disk encodings (little-endian, possibly unaligned) and
/// f32 / f16 / bf16. Shared by the GGUF and safetensors readers and the writer.
/// </summary>
public static class TensorConvert
{
    /// <summary>Elements per Q8_0 block.</summary>
    public const int Q8_0BlockElements = 32;

    /// <summary>Bytes per Q8_0 block: an f16 scale then 32 signed bytes.</summary>
    public const int Q8_0BlockBytes = 2 + Q8_0BlockElements;

    public static void F32ToF32(ReadOnlySpan<byte> source, Span<float> destination)
    {
        CheckLengths(source.Length, 4, destination.Length);
        if (BitConverter.IsLittleEndian)
        {
            MemoryMarshal.Cast<byte, float>(source).CopyTo(destination);
            return;
        }
        for (int i = 0; i < destination.Length; i++)
            destination[i] = BinaryPrimitives.ReadSingleLittleEndian(source.Slice(i * 4, 4));
    }

    public static void F16ToF32(ReadOnlySpan<byte> source, Span<float> destination)
    {
        CheckLengths(source.Length, 2, destination.Length);
        for (int i = 0; i < destination.Length; i++)
            destination[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(source.Slice(i * 2, 2));
    }

    public static void BF16ToF32(ReadOnlySpan<byte> source, Span<float> destination)
    {
        CheckLengths(source.Length, 2, destination.Length);
        for (int i = 0; i < destination.Length; i++)
            destination[i] = BF16BitsToF32(BinaryPrimitives.ReadUInt16LittleEndian(source.Slice(i * 2, 2)));
    }

    /// <summary>Q8_0: each block of 32 values is scale (f16) times a signed byte.</summary>
    public static void Q8_0ToF32(ReadOnlySpan<byte> source, Span<float> destination)
    {
        if (destination.Length % Q8_0BlockElements != 0)
            throw new ArgumentException($"Q8_0 converts whole blocks of {Q8_0BlockElements} values; got {destination.Length}", nameof(destination));
        int blocks = destination.Length / Q8_0BlockElements;
        if ((long)blocks * Q8_0BlockBytes != source.Length)
            throw new ArgumentException($"{blocks} Q8_0 blocks need {(long)blocks * Q8_0BlockBytes} bytes, got {source.Length}", nameof(source));
        for (int b = 0; b < blocks; b++)
        {
            var block = source.Slice(b * Q8_0BlockBytes, Q8_0BlockBytes);
            float scale = (float)BinaryPrimitives.ReadHalfLittleEndian(block);
            var q = MemoryMarshal.Cast<byte, sbyte>(block[2..]);
            var dst = destination.Slice(b * Q8_0BlockElements, Q8_0BlockElements);
            for (int i = 0; i < Q8_0BlockElements; i++)
                dst[i] = scale * q[i];
        }
    }

    public static float BF16BitsToF32(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>f32 to bf16 bits, rounding to nearest even; NaN stays a (quiet) NaN.</summary>
    public static ushort F32ToBF16Bits(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
            return (ushort)((bits >> 16) | 0x0040); // keep sign, force a mantissa bit so it cannot become Inf
        uint roundingBias = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + roundingBias) >> 16);
    }

    public static void F32ToBF16(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        if (source.Length != destination.Length)
            throw new ArgumentException("source and destination lengths differ", nameof(destination));
        for (int i = 0; i < source.Length; i++)
            destination[i] = F32ToBF16Bits(source[i]);
    }

    public static void F32ToF16(ReadOnlySpan<float> source, Span<Half> destination)
    {
        if (source.Length != destination.Length)
            throw new ArgumentException("source and destination lengths differ", nameof(destination));
        for (int i = 0; i < source.Length; i++)
            destination[i] = (Half)source[i];
    }

    /// <summary>
    /// Q8_0 quantisation, the inverse of <see cref="Q8_0ToF32"/>: per block of 32 values the scale is
    /// d = max|x| / 127 (stored as f16) and each value becomes round(x / d), half away from zero.
    /// The quotient uses the unrounded d, as GGML's reference quantiser does, so files match its output.
    /// </summary>
    public static void F32ToQ8_0(ReadOnlySpan<float> source, Span<byte> destination)
    {
        if (source.Length % Q8_0BlockElements != 0)
            throw new ArgumentException($"Q8_0 quantises whole blocks of {Q8_0BlockElements} values; got {source.Length}", nameof(source));
        int blocks = source.Length / Q8_0BlockElements;
        if ((long)blocks * Q8_0BlockBytes != destination.Length)
            throw new ArgumentException($"{blocks} Q8_0 blocks need {(long)blocks * Q8_0BlockBytes} bytes, got {destination.Length}", nameof(destination));
        for (int b = 0; b < blocks; b++)
        {
            var x = source.Slice(b * Q8_0BlockElements, Q8_0BlockElements);
            var block = destination.Slice(b * Q8_0BlockBytes, Q8_0BlockBytes);
            float amax = 0;
            foreach (float v in x)
                amax = MathF.Max(amax, MathF.Abs(v));
            float d = amax / 127f;
            float inverse = d != 0 ? 1f / d : 0f;
            BinaryPrimitives.WriteHalfLittleEndian(block, (Half)d);
            for (int i = 0; i < Q8_0BlockElements; i++)
                block[2 + i] = unchecked((byte)(sbyte)MathF.Round(x[i] * inverse, MidpointRounding.AwayFromZero));
        }
    }

    /// <summary>f32 values written into <paramref name="destination"/> as f32, f16, bf16 or Q8_0 (whole blocks).</summary>
    internal static void Encode(TensorEncoding encoding, ReadOnlySpan<float> values, Span<byte> destination)
    {
        switch (encoding)
        {
            case TensorEncoding.F32:
                CheckLengths(destination.Length, 4, values.Length);
                for (int i = 0; i < values.Length; i++)
                    BinaryPrimitives.WriteSingleLittleEndian(destination[(i * 4)..], values[i]);
                break;
            case TensorEncoding.F16:
                CheckLengths(destination.Length, 2, values.Length);
                for (int i = 0; i < values.Length; i++)
                    BinaryPrimitives.WriteHalfLittleEndian(destination[(i * 2)..], (Half)values[i]);
                break;
            case TensorEncoding.BF16:
                CheckLengths(destination.Length, 2, values.Length);
                for (int i = 0; i < values.Length; i++)
                    BinaryPrimitives.WriteUInt16LittleEndian(destination[(i * 2)..], F32ToBF16Bits(values[i]));
                break;
            case TensorEncoding.Q8_0:
                F32ToQ8_0(values, destination);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(encoding), encoding, null);
        }
    }

    /// <summary>Little-endian bytes of f32 values stored as f32, f16 or bf16.</summary>
    internal static byte[] EncodeF32(ReadOnlySpan<float> values, TensorEncoding encoding)
    {
        switch (encoding)
        {
            case TensorEncoding.F32:
            {
                var bytes = new byte[checked(values.Length * 4)];
                for (int i = 0; i < values.Length; i++)
                    BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
                return bytes;
            }
            case TensorEncoding.F16:
            {
                var bytes = new byte[checked(values.Length * 2)];
                for (int i = 0; i < values.Length; i++)
                    BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(i * 2), (Half)values[i]);
                return bytes;
            }
            case TensorEncoding.BF16:
            {
                var bytes = new byte[checked(values.Length * 2)];
                for (int i = 0; i < values.Length; i++)
                    BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(i * 2), F32ToBF16Bits(values[i]));
                return bytes;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(encoding), encoding, "only F32, F16 and BF16 can be encoded from f32");
        }
    }

    /// <summary>Decodes <paramref name="source"/> in the given encoding into f32.</summary>
    internal static void Decode(TensorEncoding encoding, ReadOnlySpan<byte> source, Span<float> destination)
    {
        switch (encoding)
        {
            case TensorEncoding.F32: F32ToF32(source, destination); break;
            case TensorEncoding.F16: F16ToF32(source, destination); break;
            case TensorEncoding.BF16: BF16ToF32(source, destination); break;
            case TensorEncoding.Q8_0: Q8_0ToF32(source, destination); break;
            default: throw new ArgumentOutOfRangeException(nameof(encoding), encoding, null);
        }
    }

    private static void CheckLengths(int sourceBytes, int elementSize, int destinationLength)
    {
        if ((long)destinationLength * elementSize != sourceBytes)
            throw new ArgumentException($"{destinationLength} elements of {elementSize} bytes need {(long)destinationLength * elementSize} bytes, got {sourceBytes}");
    }
}

/// <summary>The element encodings the converters understand.</summary>
internal enum TensorEncoding
{
    F32,
    F16,
    BF16,
    Q8_0,
}
