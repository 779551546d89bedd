using Caprese.Interop;

namespace Caprese.Models.Training.Stage1;

/// <summary>
/// Loss and gradients of one stage-1 batch with the matrix products on the backend. With P = X·L·R and
/// G = ∂loss/∂P = 2(P − T)/(B·D): dR = (X·L)ᵀ·G and dL = Xᵀ·(G·Rᵀ). <c>caprese_matmul</c> computes y = x·wᵀ, so every
/// product is fed a host-transposed copy where it needs one (the copies are batch-sized, the products are not).
/// Buffers are sized for the largest batch once; smaller batches use leading views.
/// </summary>
internal sealed class LowRankGradient : IDisposable
{
    private readonly CapreseContext _ctx;
    private readonly int _dim, _rank, _batch;
    private readonly List<DeviceBuffer> _owned = [];
    private readonly DeviceBuffer _x, _xT, _lT, _rT, _r, _xl, _p, _xlT, _gT, _g, _grT, _grTT, _dR, _dL;
    private readonly float[] _hostP, _hostXl, _hostXlT, _hostG, _hostGT, _hostGr, _hostGrT, _hostXT, _lTHost, _rTHost;

    public LowRankGradient(CapreseContext context, int dim, int rank, int maxBatch)
    {
        _ctx = context;
        (_dim, _rank, _batch) = (dim, rank, maxBatch);
        try
        {
            _x = Alloc(maxBatch, dim);
            _xT = Alloc(dim, maxBatch);
            _lT = Alloc(rank, dim);
            _rT = Alloc(dim, rank);
            _r = Alloc(rank, dim);
            _xl = Alloc(maxBatch, rank);
            _p = Alloc(maxBatch, dim);
            _xlT = Alloc(rank, maxBatch);
            _gT = Alloc(dim, maxBatch);
            _g = Alloc(maxBatch, dim);
            _grT = Alloc(maxBatch, rank);
            _grTT = Alloc(rank, maxBatch);
            _dR = Alloc(rank, dim);
            _dL = Alloc(dim, rank);
        }
        catch
        {
            Dispose();
            throw;
        }
        _hostP = new float[maxBatch * dim];
        _hostXl = new float[maxBatch * rank];
        _hostXlT = new float[maxBatch * rank];
        _hostG = new float[maxBatch * dim];
        _hostGT = new float[maxBatch * dim];
        _hostGr = new float[maxBatch * rank];
        _hostGrT = new float[maxBatch * rank];
        _hostXT = new float[maxBatch * dim];
        _lTHost = new float[rank * dim];
        _rTHost = new float[rank * dim];
    }

    /// <summary>
    /// Mean squared error of the batch (x, t: [rows, D]) under L [D, r], R [r, D], and its gradients into dL, dR
    /// (same layouts as L and R).
    /// </summary>
    public double Compute(ReadOnlySpan<float> x, ReadOnlySpan<float> t, int rows, float[] l, float[] r, float[] dL, float[] dR)
    {
        if (rows < 1 || rows > _batch)
            throw new ArgumentOutOfRangeException(nameof(rows), rows, $"batch of 1..{_batch} rows");
        int d = _dim, k = _rank;
        var ctx = _ctx;

        Transpose(l, d, k, _lTHost);
        Transpose(r, k, d, _rTHost);
        _x.CopyFrom(x[..(rows * d)]);
        _lT.CopyFrom<float>(_lTHost);
        _rT.CopyFrom<float>(_rTHost);
        _r.CopyFrom<float>(r);

        // Forward: XL = X·L (weight Lᵀ [r, D]); P = XL·R (weight Rᵀ [D, r]).
        var xl = _xl.AsTensor(DType.F32, rows, k);
        ctx.Matmul(_x.AsTensor(DType.F32, rows, d), _lT.Tensor, xl);
        ctx.Matmul(xl, _rT.Tensor, _p.AsTensor(DType.F32, rows, d));
        _p.CopyTo(_hostP.AsSpan(0, rows * d));
        _xl.CopyTo(_hostXl.AsSpan(0, rows * k));

        double sum = 0, scale = 2.0 / ((double)rows * d);
        for (int i = 0; i < rows * d; i++)
        {
            double e = _hostP[i] - t[i];
            sum += e * e;
            _hostG[i] = (float)(scale * e);
        }

        // dR [r, D] = (XL)ᵀ·G: x = (XL)ᵀ [r, B], weight Gᵀ [D, B].
        Transpose(_hostXl, rows, k, _hostXlT);
        Transpose(_hostG, rows, d, _hostGT);
        _xlT.CopyFrom<float>(_hostXlT.AsSpan(0, rows * k));
        _gT.CopyFrom<float>(_hostGT.AsSpan(0, rows * d));
        ctx.Matmul(_xlT.AsTensor(DType.F32, k, rows), _gT.AsTensor(DType.F32, d, rows), _dR.Tensor);

        // GRᵀ [B, r] = G·Rᵀ: weight R [r, D]. dL [D, r] = Xᵀ·(GRᵀ): x = Xᵀ [D, B], weight (GRᵀ)ᵀ [r, B].
        _g.CopyFrom<float>(_hostG.AsSpan(0, rows * d));
        var grT = _grT.AsTensor(DType.F32, rows, k);
        ctx.Matmul(_g.AsTensor(DType.F32, rows, d), _r.Tensor, grT);
        _grT.CopyTo(_hostGr.AsSpan(0, rows * k));
        Transpose(_hostGr, rows, k, _hostGrT);
        Transpose(x, rows, d, _hostXT);
        _grTT.CopyFrom<float>(_hostGrT.AsSpan(0, rows * k));
        _xT.CopyFrom<float>(_hostXT.AsSpan(0, rows * d));
        ctx.Matmul(_xT.AsTensor(DType.F32, d, rows), _grTT.AsTensor(DType.F32, k, rows), _dL.Tensor);

        _dR.CopyTo<float>(dR);
        _dL.CopyTo<float>(dL);
        return sum / ((double)rows * d);
    }

    public void Dispose()
    {
        foreach (var b in _owned)
            b.Dispose();
        _owned.Clear();
    }

    private DeviceBuffer Alloc(int rows, int cols)
    {
        var b = _ctx.Allocate(DType.F32, rows, cols);
        _owned.Add(b);
        return b;
    }

    // [rows, cols] row-major (the first rows·cols values of m) into [cols, rows].
    private static void Transpose(ReadOnlySpan<float> m, int rows, int cols, Span<float> target)
    {
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                target[j * rows + i] = m[i * cols + j];
    }
}
