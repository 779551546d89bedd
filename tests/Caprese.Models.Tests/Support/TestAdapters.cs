using Caprese.Interop;
using Caprese.Models.Adapters;
using Caprese.Models.Sparsity;
using Caprese.Models.Transformer;

namespace Caprese.Models.Tests.Support;

/// <summary>Adapter sets with random non-zero factors, and device tensors read back to the host.</summary>
internal static class TestAdapters
{
    /// <summary>L ~ N(0, 1/D) (the paper's init) and R uniform with standard deviation about rScale (R = 0 when rScale is 0).</summary>
    public static AdapterSet Random(ModelConfig config, SparsityOptions sparsity, int rank, int seed, float rScale = 0.1f)
    {
        var set = AdapterSet.CreateInitial(config, sparsity, rank, seed);
        var rng = new Random(seed + 1);
        foreach (var a in set.Adapters)
            for (int i = 0; i < a.R.Length; i++)
                a.R[i] = rScale * (float)(rng.NextDouble() * 2 - 1) * 1.7f;
        return set;
    }

    /// <summary>An f32 device tensor's values.</summary>
    public static unsafe float[] Download(CapreseContext context, TensorDesc tensor)
    {
        Assert.Equal(DType.F32, tensor.DType);
        var values = new float[tensor.ElementCount];
        fixed (float* p = values)
            context.Copy((nint)p, tensor.Data, tensor.ByteSize, CopyKind.DeviceToHost);
        return values;
    }
}
