using Caprese.Interop;

namespace Caprese.Models.Sparsity;

/// <summary>
/// The down projection of a layer transposed to [H, D] (one row per neuron), as <c>caprese_sparse_ffn</c>
/// reads it. Made on the host from the uploaded [D, H] tensor: one download, a transpose, one upload. Costs
/// D·H elements of the weight dtype per sparsified layer on the backend (the dense [D, H] copy stays for
/// prefill), i.e. one third more FFN weight memory for those layers.
/// </summary>
internal static class TransposedDownWeights
{
    public static unsafe DeviceBuffer Create(CapreseContext context, TensorDesc wDown)
    {
        int d = checked((int)wDown.Dim(0)), h = checked((int)wDown.Dim(1));
        int size = wDown.DType.SizeInBytes();
        var source = new byte[wDown.ByteSize];
        var target = new byte[wDown.ByteSize];
        fixed (byte* p = source)
            context.Copy((nint)p, wDown.Data, source.Length, CopyKind.DeviceToHost);
        if (size == 4)
            Transpose<float>(source, target, d, h);
        else
            Transpose<ushort>(source, target, d, h);
        return context.Upload<byte>(target, wDown.DType, h, d);
    }

    private static void Transpose<T>(byte[] source, byte[] target, int rows, int cols) where T : unmanaged
    {
        var src = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, T>(source.AsSpan());
        var dst = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, T>(target.AsSpan());
        for (int row = 0; row < rows; row++)
            for (int col = 0; col < cols; col++)
                dst[col * rows + row] = src[row * cols + col];
    }
}
