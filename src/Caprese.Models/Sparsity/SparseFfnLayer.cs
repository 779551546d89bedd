using Caprese.Interop;
using Caprese.Models.Adapters;
using Caprese.Models.Transformer;

namespace Caprese.Models.Sparsity;

/// <summary>
/// One sparsified layer's decode state: the transposed down projection, the method's statistics from the
/// dense prefill, and what the last selection produced (GRIFFIN indices or compact weights, CATS τ). A CATS layer
/// given a fixed τ (calibration from text) keeps no statistics and is ready from the start.
/// </summary>
internal sealed class SparseFfnLayer : IDisposable
{
    private readonly CapreseContext _context;
    private readonly LayerWeights _weights;
    private readonly DeviceBuffer _downT;
    private readonly int _kept;
    private readonly bool _compact;
    private DeviceBuffer? _indices;
    private DeviceBuffer? _gateC, _upC, _downC;
    private float _threshold;

    // downT: the layer's transposed down projection, shared by every session of the model (not owned).
    public SparseFfnLayer(CapreseContext context, LayerWeights weights, DeviceBuffer downT, ModelConfig config, SparsityOptions options, float? fixedThreshold = null)
    {
        if (fixedThreshold is not null && options.Method != SparsityMethod.Cats)
            throw new ArgumentException($"{options.Method} takes no fixed threshold", nameof(fixedThreshold));
        _context = context;
        _weights = weights;
        Method = options.Method;
        Sparsity = options.Sparsity;
        _kept = GriffinSelector.KeptCount(config.HiddenDim, options.Sparsity);
        _compact = options.GriffinPath.Resolved() == GriffinPath.Compact;
        _downT = downT;
        if (fixedThreshold is { } tau)
        {
            _threshold = tau;
            IsFixed = true;
            Ready = true;
        }
        else if (Method == SparsityMethod.Griffin)
            Griffin = new GriffinSelector(config.HiddenDim);
        else
            Cats = new CatsCalibrator(config.HiddenDim, config.Activation);
    }

    /// <summary>The τ is fixed (calibrated on text): nothing is observed, reset or re-selected.</summary>
    public bool IsFixed { get; }

    public SparsityMethod Method { get; }
    public double Sparsity { get; }
    public GriffinSelector? Griffin { get; }
    public CatsCalibrator? Cats { get; }

    /// <summary>Whether a selection exists (a prefill was observed); before that the layer decodes densely.</summary>
    public bool Ready { get; private set; }

    /// <summary>The current GRIFFIN selection (ascending), or null.</summary>
    public int[]? SelectedNeurons { get; private set; }

    /// <summary>The current CATS τ.</summary>
    public float Threshold => _threshold;

    public void Reset()
    {
        if (IsFixed)
            return;
        Griffin?.Reset();
        Cats?.Reset();
        Ready = false;
        SelectedNeurons = null;
    }

    /// <summary>GRIFFIN's scores so far (null for other methods), for a session snapshot.</summary>
    public double[]? CaptureScores() => Griffin?.CaptureScores();

    /// <summary>Puts back <see cref="CaptureScores"/> and remakes the selection from them.</summary>
    public void RestoreScores(double[]? scores, int rowCount)
    {
        if (Griffin is null || scores is null)
            return;
        Griffin.RestoreScores(scores, rowCount);
        if (rowCount > 0)
            Select();
        else
            Reset();
    }

    /// <summary>Turns the statistics gathered so far into the decode-time selection.</summary>
    public void Select()
    {
        if (Griffin is { RowCount: > 0 } g)
        {
            SelectedNeurons = g.Select(_kept);
            if (_compact)
                Compact(SelectedNeurons);
            else
                (_indices ??= _context.Allocate(DType.I32, _kept)).CopyFrom<int>(SelectedNeurons);
            Ready = true;
        }
        else if (Cats is { RowCount: > 0 } c)
        {
            _threshold = c.Threshold(Sparsity);
            Ready = true;
        }
    }

    /// <summary>
    /// y = the sparse FFN of x ([1..16, D]), plus the layer's adapter when given: merged as extra neurons of the same
    /// kernel call, unmerged as y += (x·L)·R through <paramref name="scratch"/>. Only when <see cref="Ready"/>.
    /// </summary>
    public void Decode(TensorDesc x, TensorDesc y, Activation activation, DeviceAdapter? adapter = null, AdapterScratch? scratch = null)
    {
        var merged = adapter is { Form: AdapterForm.Merged } ? adapter : null;
        TensorDesc? extraUp = merged?.LTransposed, extraDown = merged?.R;
        if (Method == SparsityMethod.Cats)
            _context.SparseFfn(x, _weights.WGate, _weights.WUp, _downT.Tensor, null, extraUp, extraDown, activation, SparseSelection.Threshold, _threshold, y);
        else if (_compact)
            _context.SparseFfn(x, _gateC!.Tensor, _upC!.Tensor, _downC!.Tensor, null, extraUp, extraDown, activation, SparseSelection.All, 0f, y);
        else
            _context.SparseFfn(x, _weights.WGate, _weights.WUp, _downT.Tensor, _indices!.Tensor, extraUp, extraDown, activation, SparseSelection.Indices, 0f, y);

        if (adapter is { Form: AdapterForm.Unmerged })
        {
            ArgumentNullException.ThrowIfNull(scratch);
            int rows = checked((int)x.Dim(0));
            var t = scratch.Low(rows, adapter.Rank);
            var branch = scratch.Branch(rows);
            _context.Matmul(x, adapter.LTransposed, t);
            _context.Matmul(t, adapter.RTransposed, branch);
            _context.Add(y, branch, y);
        }
    }

    // GRIFFIN's sliced FFN: the kept rows of w_gate, w_up and w_down_t into [k, D] buffers, one copy per run of consecutive indices.
    private void Compact(int[] kept)
    {
        var dtype = _weights.WGate.DType;
        long d = _weights.WGate.Dim(1);
        _gateC ??= _context.Allocate(dtype, kept.Length, d);
        _upC ??= _context.Allocate(dtype, kept.Length, d);
        _downC ??= _context.Allocate(dtype, kept.Length, d);
        long rowBytes = d * dtype.SizeInBytes();
        for (int start = 0; start < kept.Length;)
        {
            int end = start + 1;
            while (end < kept.Length && kept[end] == kept[end - 1] + 1)
                end++;
            long bytes = (end - start) * rowBytes, dst = start * rowBytes, src = kept[start] * rowBytes;
            _context.Copy(_gateC.Pointer + (nint)dst, _weights.WGate.Data + (nint)src, bytes, CopyKind.DeviceToDevice);
            _context.Copy(_upC.Pointer + (nint)dst, _weights.WUp.Data + (nint)src, bytes, CopyKind.DeviceToDevice);
            _context.Copy(_downC.Pointer + (nint)dst, _downT.Pointer + (nint)src, bytes, CopyKind.DeviceToDevice);
            start = end;
        }
    }

    public void Dispose()
    {
        _indices?.Dispose();
        _gateC?.Dispose();
        _upC?.Dispose();
        _downC?.Dispose();
    }
}
