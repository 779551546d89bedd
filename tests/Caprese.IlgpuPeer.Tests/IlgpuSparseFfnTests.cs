using Caprese.Interop;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;

namespace Caprese.IlgpuPeer.Tests;

/// <summary>One ILGPU context and CPU accelerator for the whole class (kernels compile once per weight type).</summary>
public sealed class CpuAcceleratorFixture : IDisposable
{
    public CpuAcceleratorFixture()
    {
        Context = IlgpuSparseFfn.CreateCpuContext();
        Accelerator = Context.CreateCPUAccelerator(0);
        // Small groups and few chunks keep the CPU accelerator quick while still exercising the
        // group reduction (several threads per item) and the split-K sum (several chunks).
        Ffn = new IlgpuSparseFfn(Accelerator, hiddenGroup: 8, downGroup: 8, maxChunks: 3);
        Native = CapreseContext.Create(BackendKind.Cpu);
    }

    public Context Context { get; }
    public Accelerator Accelerator { get; }
    public IlgpuSparseFfn Ffn { get; }
    public CapreseContext Native { get; }

    public void Dispose()
    {
        Ffn.Dispose();
        Accelerator.Dispose();
        Context.Dispose();
        Native.Dispose();
    }
}

/// <summary>
/// The ILGPU peer on ILGPU's CPU accelerator against Caprese's native CPU backend
/// (caprese_sparse_ffn through the interop) on the same weight bits.
/// Tolerance: |ilgpu - native| ≤ 1e-4 · (1 + max|y_native|) + 1e-4 · |y_native| elementwise. Both accumulate in
/// f32 from identical inputs; they differ only in summation order (the native CPU sums 8 lanes then parts,
/// the peer a group tree then chunks), which at these sizes (D ≤ 72, ≤ 64 items) stays near 1e-6 relative.
/// </summary>
public class IlgpuSparseFfnTests(CpuAcceleratorFixture fx) : IClassFixture<CpuAcceleratorFixture>
{
    private const int R = 5;

    public static TheoryData<int, int, int, DType, Activation> Shapes => new()
    {
        // M, D, H, weights, activation. D not a multiple of the group size, H of the chunk size.
        { 1, 64, 48, DType.F16, Activation.Silu },
        { 3, 40, 37, DType.F32, Activation.GeluTanh },
        { 5, 72, 64, DType.BF16, Activation.Silu },
        { 16, 24, 20, DType.F16, Activation.Silu },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Indices_WithExtras_MatchesNative(int m, int d, int h, DType type, Activation act)
    {
        var p = Problem.Create(m, d, h, R, type, seed: m * 1000 + d);
        int[] idx = Enumerable.Range(0, h).Where(j => j % 3 != 1).Reverse().Append(2).ToArray(); // unsorted, one repeat
        float[] expected = p.Native(fx.Native, act, SparseSelection.Indices, idx, 0f, extras: true);
        using var w = p.UploadPeer(fx.Accelerator);
        float[] actual = fx.Ffn.Run(p.X, m, w, PeerSelection.Indices, idx, 0f, (PeerActivation)act, useExtras: true);
        AssertClose(expected, actual);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void All_MatchesNative(int m, int d, int h, DType type, Activation act)
    {
        var p = Problem.Create(m, d, h, R, type, seed: m * 2000 + d);
        float[] expected = p.Native(fx.Native, act, SparseSelection.All, null, 0f, extras: false);
        using var w = p.UploadPeer(fx.Accelerator);
        AssertClose(expected, fx.Ffn.Run(p.X, m, w, PeerSelection.All, null, 0f, (PeerActivation)act, useExtras: false));
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Threshold_WithExtras_MatchesNative(int m, int d, int h, DType type, Activation act)
    {
        var p = Problem.Create(m, d, h, R, type, seed: m * 3000 + d);
        float tau = p.ThresholdFor(act, sparsity: 0.6);
        float[] expected = p.Native(fx.Native, act, SparseSelection.Threshold, null, tau, extras: true);
        using var w = p.UploadPeer(fx.Accelerator);
        AssertClose(expected, fx.Ffn.Run(p.X, m, w, PeerSelection.Threshold, null, tau, (PeerActivation)act, useExtras: true));
    }

    [Fact]
    public void NoMainNeurons_IsTheExtrasAlone_AndZeroWithoutThem()
    {
        var p = Problem.Create(2, 32, 16, R, DType.F32, seed: 7);
        using var w = p.UploadPeer(fx.Accelerator);
        // The interop has no zero-length tensors, so the expected value is Σ_e (x·eu_e) ed_e in double.
        AssertClose(p.ExtrasOnly(),
            fx.Ffn.Run(p.X, 2, w, PeerSelection.Indices, [], 0f, PeerActivation.Silu, useExtras: true));
        Assert.All(fx.Ffn.Run(p.X, 2, w, PeerSelection.Indices, [], 0f, PeerActivation.Silu, useExtras: false), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void ThresholdAboveEveryActivation_GivesZero()
    {
        var p = Problem.Create(4, 32, 16, 0, DType.F16, seed: 8);
        using var w = p.UploadPeer(fx.Accelerator);
        float[] y = fx.Ffn.Run(p.X, 4, w, PeerSelection.Threshold, null, 1e30f, PeerActivation.Silu, useExtras: false);
        Assert.All(y, v => Assert.Equal(0f, v));
    }

    [Fact]
    public void MoreThanSixteenRows_IsRejected()
    {
        var p = Problem.Create(1, 8, 4, 0, DType.F32, seed: 9);
        using var w = p.UploadPeer(fx.Accelerator);
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            fx.Ffn.Run(new float[17 * 8], 17, w, PeerSelection.All, null, 0f, PeerActivation.Silu, useExtras: false));
    }

    private static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        float scale = 1f + expected.Max(Math.Abs);
        for (int i = 0; i < expected.Length; i++)
        {
            float tol = 1e-4f * scale + 1e-4f * Math.Abs(expected[i]);
            if (!(Math.Abs(expected[i] - actual[i]) <= tol))
                Assert.Fail($"y[{i}]: native {expected[i]}, ILGPU {actual[i]} (tolerance {tol})");
        }
    }
}
