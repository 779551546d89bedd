using Caprese.Interop;

namespace Caprese.Models.Sparsity;

/// <summary>
/// Activation buffers of the unmerged adapter branch, shared by all layers (they run one after another): the low-rank
/// t = x·L [rows, r] and the branch output t·R [rows, D], for up to <see cref="MaxRows"/> rows (the sparse kernel's limit).
/// </summary>
internal sealed class AdapterScratch : IDisposable
{
    public const int MaxRows = 16;

    private readonly DeviceBuffer _low;
    private readonly DeviceBuffer _branch;
    private readonly int _dim;

    public AdapterScratch(CapreseContext context, int dim, int rank)
    {
        _dim = dim;
        _low = context.Allocate(DType.F32, MaxRows, rank);
        try
        {
            _branch = context.Allocate(DType.F32, MaxRows, dim);
        }
        catch
        {
            _low.Dispose();
            throw;
        }
    }

    public TensorDesc Low(int rows, int rank) => _low.AsTensor(DType.F32, rows, rank);

    public TensorDesc Branch(int rows) => _branch.AsTensor(DType.F32, rows, _dim);

    public void Dispose()
    {
        _low.Dispose();
        _branch.Dispose();
    }
}
