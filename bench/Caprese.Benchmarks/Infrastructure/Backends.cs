using Caprese.Interop;

namespace Caprese.Benchmarks.Infrastructure;

/// <summary>
/// The backends to benchmark: CPU always, CUDA where a GPU is usable. Never <see cref="BackendKind.CudaSim"/>: the
/// simulator runs the CUDA kernels on the CPU, so its timings measure nothing a user would run.
/// </summary>
public static class Backends
{
    public static IEnumerable<BackendKind> Available()
    {
        yield return BackendKind.Cpu;
        if (CapreseLibrary.IsBackendAvailable(BackendKind.Cuda, out _))
            yield return BackendKind.Cuda;
    }

    /// <summary>Random values in [-1, 1) from a fixed seed, so every run sees the same data.</summary>
    public static float[] RandomFloats(long count, int seed = 1234)
    {
        var rng = new Random(seed);
        var data = new float[count];
        for (long i = 0; i < count; i++)
            data[i] = (float)(rng.NextDouble() * 2 - 1);
        return data;
    }

    /// <summary>Weights stored as <paramref name="type"/>, converted on the host.</summary>
    public static DeviceBuffer UploadWeights(CapreseContext context, float[] values, DType type, params long[] shape) => type switch
    {
        DType.F32 => context.Upload<float>(values, DType.F32, shape),
        DType.F16 => context.Upload<Half>(values.Select(v => (Half)v).ToArray(), DType.F16, shape),
        DType.BF16 => context.Upload<ushort>(values.Select(v => (ushort)(BitConverter.SingleToUInt32Bits(v) >> 16)).ToArray(), DType.BF16, shape),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };
}
