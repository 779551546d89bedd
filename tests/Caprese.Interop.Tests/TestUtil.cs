using Caprese.Interop;

namespace Caprese.Interop.Tests;

/// <summary>Deterministic inputs, bf16 conversion and tolerant comparisons for the op tests.</summary>
internal static class TestUtil
{
    public static float[] Random(int count, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        var a = new float[count];
        for (int i = 0; i < count; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return a;
    }

    // bf16 is the upper half of an f32; round to nearest even like PyTorch does.
    public static ushort ToBf16(float f)
    {
        uint bits = BitConverter.SingleToUInt32Bits(f);
        if (float.IsNaN(f)) return 0x7FC0;
        uint rounding = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }

    public static float FromBf16(ushort b) => BitConverter.UInt32BitsToSingle((uint)b << 16);

    public static ushort[] ToBf16(float[] a) => Array.ConvertAll(a, ToBf16);

    public static Half[] ToF16(float[] a) => Array.ConvertAll(a, f => (Half)f);

    /// <summary>The values each dtype actually stores, so references see the same inputs.</summary>
    public static float[] Quantize(float[] a, DType dtype) => dtype switch
    {
        DType.F32 => (float[])a.Clone(),
        DType.F16 => Array.ConvertAll(a, f => (float)(Half)f),
        DType.BF16 => Array.ConvertAll(a, f => FromBf16(ToBf16(f))),
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };

    public static DeviceBuffer UploadAs(CapreseContext ctx, float[] data, DType dtype, params long[] shape) => dtype switch
    {
        DType.F32 => ctx.Upload<float>(data, dtype, shape),
        DType.F16 => ctx.Upload<Half>(ToF16(data), dtype, shape),
        DType.BF16 => ctx.Upload<ushort>(ToBf16(data), dtype, shape),
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };

    public static void AssertClose(float[] expected, float[] actual, float atol = 1e-5f, float rtol = 1e-4f)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            float tol = atol + rtol * Math.Abs(expected[i]);
            if (!(Math.Abs(expected[i] - actual[i]) <= tol))
                Assert.Fail($"Element {i}: expected {expected[i]}, got {actual[i]} (tolerance {tol}).");
        }
    }
}
