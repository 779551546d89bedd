namespace Caprese.Interop.Tests;

/// <summary><see cref="CapreseContext.Sample"/> through the interop: parameters reach the native op, and the
/// draw is a deterministic function of (logits, parameters) that agrees across backends.</summary>
public class SampleTests
{
    [Theory]
    [InlineData(BackendKind.Cpu)]
    [InlineData(BackendKind.Cuda)]
    public void TopK1_IsTheArgmax_AndDrawsAreReproducible(BackendKind backend)
    {
        const int m = 4, v = 1000;
        using var ctx = Backends.Open(backend);
        float[] x = TestUtil.Random(m * v, 21);
        using var xb = ctx.Upload<float>(x, DType.F32, m, v);
        using var ob = ctx.Allocate(DType.I32, m);

        ctx.Sample(xb.Tensor, new SamplingParams(1f, TopK: 1, Seed: 3), ob.Tensor);
        Assert.Equal(Reference.Argmax(x, m, v), ob.ToArray<int>());

        var p = new SamplingParams(0.9f, TopK: 50, TopP: 0.9f, Seed: 12345, Offset: 7);
        ctx.Sample(xb.Tensor, p, ob.Tensor);
        int[] first = ob.ToArray<int>();
        ctx.Sample(xb.Tensor, p, ob.Tensor);
        Assert.Equal(first, ob.ToArray<int>());
        Assert.All(first, id => Assert.InRange(id, 0, v - 1));
    }

    [Fact]
    public void Cuda_DrawsTheSameIdsAsCpu()
    {
        const int m = 8, v = 32000;
        using var gpu = Backends.Open(BackendKind.Cuda);
        using var cpu = CapreseContext.Create(BackendKind.Cpu);
        float[] x = TestUtil.Random(m * v, 22);
        for (int i = 0; i < x.Length; i++)
            x[i] *= 6f;
        var p = new SamplingParams(0.8f, TopK: 100, TopP: 0.95f, Seed: 42, Offset: 1000);
        int[] Run(CapreseContext ctx)
        {
            using var xb = ctx.Upload<float>(x, DType.F32, m, v);
            using var ob = ctx.Allocate(DType.I32, m);
            ctx.Sample(xb.Tensor, p, ob.Tensor);
            return ob.ToArray<int>();
        }
        Assert.Equal(Run(cpu), Run(gpu));
    }

    [Fact]
    public void BadParameters_NameTheField()
    {
        using var ctx = CapreseContext.Create(BackendKind.Cpu);
        using var xb = ctx.Allocate(DType.F32, 2, 10);
        using var ob = ctx.Allocate(DType.I32, 2);
        (SamplingParams P, string Field)[] cases =
        [
            (new SamplingParams(0f), "params.temperature"),
            (new SamplingParams(float.NaN), "params.temperature"),
            (new SamplingParams(1f, TopK: -1), "params.top_k"),
            (new SamplingParams(1f, TopP: 0f), "params.top_p"),
            (new SamplingParams(1f, TopP: 1.5f), "params.top_p"),
        ];
        foreach (var (p, field) in cases)
        {
            var ex = Assert.Throws<CapreseException>(() => ctx.Sample(xb.Tensor, p, ob.Tensor));
            Assert.Equal(CapreseStatus.InvalidArgument, ex.Status);
            Assert.Equal("caprese_sample", ex.Operation);
            Assert.StartsWith(field, ex.NativeMessage);
        }
        using var wrong = ctx.Allocate(DType.I32, 3);
        var shape = Assert.Throws<CapreseException>(() => ctx.Sample(xb.Tensor, new SamplingParams(1f), wrong.Tensor));
        Assert.Equal(CapreseStatus.Shape, shape.Status);
    }
}
