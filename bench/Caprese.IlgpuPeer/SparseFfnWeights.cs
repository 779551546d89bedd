using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using IlgpuHalf = ILGPU.Half;

namespace Caprese.IlgpuPeer;

/// <summary>
/// The FFN's weights on an ILGPU accelerator: gate, up and down_t [H, D] and optional extra
/// up/down [R, D], all of one <see cref="PeerWeightType"/>.
/// </summary>
public sealed class SparseFfnWeights : IDisposable
{
    private readonly MemoryBuffer _gate, _up, _downT, _extraUp, _extraDown;

    private SparseFfnWeights(PeerWeightType type, int h, int d, int r, MemoryBuffer gate, MemoryBuffer up, MemoryBuffer downT,
        MemoryBuffer extraUp, MemoryBuffer extraDown)
    {
        Type = type; H = h; D = d; R = r;
        _gate = gate; _up = up; _downT = downT; _extraUp = extraUp; _extraDown = extraDown;
    }

    /// <summary>Storage type.</summary>
    public PeerWeightType Type { get; }

    /// <summary>Neurons (rows of gate, up, down_t).</summary>
    public int H { get; }

    /// <summary>Model width.</summary>
    public int D { get; }

    /// <summary>Extra (always-active) neurons; 0 = none.</summary>
    public int R { get; }

    /// <summary>Bytes of one element.</summary>
    public int ElementSize => Type == PeerWeightType.F32 ? 4 : 2;

    /// <summary>
    /// Uploads weights given as their stored elements: float for F32, System.Half for F16, ushort
    /// (bf16 bits) for BF16. Extra up/down are both given (R rows each) or both empty.
    /// </summary>
    public static SparseFfnWeights Upload<TElem>(Accelerator accelerator, PeerWeightType type, int h, int d,
        ReadOnlySpan<TElem> gate, ReadOnlySpan<TElem> up, ReadOnlySpan<TElem> downT,
        ReadOnlySpan<TElem> extraUp = default, ReadOnlySpan<TElem> extraDown = default) where TElem : unmanaged
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        int expected = type == PeerWeightType.F32 ? 4 : 2;
        if (Marshal.SizeOf<TElem>() != expected)
            throw new ArgumentException($"{type} weights need {expected}-byte elements, got {typeof(TElem).Name}");
        if (h < 0 || d <= 0)
            throw new ArgumentOutOfRangeException(nameof(d), "H >= 0 and D > 0");
        long size = (long)h * d;
        if (gate.Length != size || up.Length != size || downT.Length != size)
            throw new ArgumentException($"gate, up and down_t must hold H x D = {size} elements");
        if (extraUp.Length != extraDown.Length || extraUp.Length % d != 0)
            throw new ArgumentException("extra up/down must both hold R x D elements");
        int r = extraUp.Length / d;
        return type switch
        {
            PeerWeightType.F32 => Make<TElem, float>(accelerator, type, h, d, r, gate, up, downT, extraUp, extraDown),
            PeerWeightType.F16 => Make<TElem, IlgpuHalf>(accelerator, type, h, d, r, gate, up, downT, extraUp, extraDown),
            PeerWeightType.BF16 => Make<TElem, ushort>(accelerator, type, h, d, r, gate, up, downT, extraUp, extraDown),
            _ => throw new ArgumentOutOfRangeException(nameof(type)),
        };
    }

    private static SparseFfnWeights Make<TIn, TDev>(Accelerator acc, PeerWeightType type, int h, int d, int r,
        ReadOnlySpan<TIn> gate, ReadOnlySpan<TIn> up, ReadOnlySpan<TIn> downT, ReadOnlySpan<TIn> eu, ReadOnlySpan<TIn> ed)
        where TIn : unmanaged where TDev : unmanaged
    {
        MemoryBuffer1D<TDev, Stride1D.Dense> Put(ReadOnlySpan<TIn> src)
        {
            var buffer = acc.Allocate1D<TDev>(Math.Max(1, src.Length)); // never empty: a view must exist for the kernel
            if (src.Length > 0)
                buffer.View.AsContiguous().SubView(0, src.Length).CopyFromCPU(MemoryMarshal.Cast<TIn, TDev>(src));
            return buffer;
        }
        return new SparseFfnWeights(type, h, d, r, Put(gate), Put(up), Put(downT), Put(eu), Put(ed));
    }

    internal TypedViews<T> Typed<T>() where T : unmanaged =>
        new(View<T>(_gate), View<T>(_up), View<T>(_downT), View<T>(_extraUp), View<T>(_extraDown));

    private static ArrayView<T> View<T>(MemoryBuffer b) where T : unmanaged =>
        ((MemoryBuffer1D<T, Stride1D.Dense>)b).View;

    internal readonly record struct TypedViews<T>(ArrayView<T> Gate, ArrayView<T> Up, ArrayView<T> DownT,
        ArrayView<T> ExtraUp, ArrayView<T> ExtraDown) where T : unmanaged;

    /// <inheritdoc />
    public void Dispose()
    {
        _gate.Dispose();
        _up.Dispose();
        _downT.Dispose();
        _extraUp.Dispose();
        _extraDown.Dispose();
    }
}
