using Caprese.Interop;
using Caprese.Models.Formats;

namespace Caprese.Models.Adapters;

/// <summary>
/// One layer's adapter on the backend, in the weights' dtype (the sparse kernel wants one dtype for all its
/// weights; the unmerged matmuls use the same so both forms round alike). Merged: Lᵀ [r, D] and R [r, D] are the
/// extra up and down rows of <c>caprese_sparse_ffn</c>. Unmerged: Lᵀ [r, D] and Rᵀ [D, r] are matmul weights
/// ([N, K], y = x·Wᵀ), so t = x·L and t·R each take one <see cref="CapreseContext.Matmul(TensorDesc, TensorDesc, TensorDesc)"/>.
/// </summary>
internal sealed class DeviceAdapter : IDisposable
{
    private readonly DeviceBuffer _lT;
    private readonly DeviceBuffer _second;

    public DeviceAdapter(CapreseContext context, LowRankAdapter adapter, AdapterForm form, DType dtype)
    {
        Form = form;
        int d = adapter.Dim, r = adapter.Rank;
        _lT = Upload(context, Transpose(adapter.L, d, r), dtype, r, d);
        try
        {
            _second = form == AdapterForm.Merged
                ? Upload(context, adapter.R, dtype, r, d)
                : Upload(context, Transpose(adapter.R, r, d), dtype, d, r);
        }
        catch
        {
            _lT.Dispose();
            throw;
        }
    }

    public AdapterForm Form { get; }

    /// <summary>Lᵀ [r, D]: the extra up rows (merged) or the first matmul's weight (unmerged).</summary>
    public TensorDesc LTransposed => _lT.Tensor;

    /// <summary>R [r, D] (merged: the extra down rows).</summary>
    public TensorDesc R => Form == AdapterForm.Merged ? _second.Tensor : throw new InvalidOperationException("unmerged adapters hold Rᵀ");

    /// <summary>Rᵀ [D, r] (unmerged: the second matmul's weight).</summary>
    public TensorDesc RTransposed => Form == AdapterForm.Unmerged ? _second.Tensor : throw new InvalidOperationException("merged adapters hold R");

    public int Rank => checked((int)_lT.Tensor.Dim(0));

    public void Dispose()
    {
        _lT.Dispose();
        _second.Dispose();
    }

    // [rows, cols] row-major to [cols, rows].
    private static float[] Transpose(float[] m, int rows, int cols)
    {
        var t = new float[m.Length];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                t[j * rows + i] = m[i * cols + j];
        return t;
    }

    private static DeviceBuffer Upload(CapreseContext context, float[] values, DType dtype, int rows, int cols)
    {
        switch (dtype)
        {
            case DType.F32:
                return context.Upload<float>(values, DType.F32, rows, cols);
            case DType.F16:
                var halves = new Half[values.Length];
                TensorConvert.F32ToF16(values, halves);
                return context.Upload<Half>(halves, DType.F16, rows, cols);
            case DType.BF16:
                var bf = new ushort[values.Length];
                TensorConvert.F32ToBF16(values, bf);
                return context.Upload<ushort>(bf, DType.BF16, rows, cols);
            default:
                throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "adapters are stored as f32, f16 or bf16");
        }
    }
}
