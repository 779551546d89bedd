using Caprese.Interop;
using Caprese.Models.Transformer;

namespace Caprese.Models.Sparsity;

/// <summary>
/// TEAL applied honestly without a sparse-input kernel: during decode each sparsified layer's linear inputs
/// are copied to the host, entries below the site's τ are zeroed, and the row goes back before the dense
/// matmul. The output equals what a sparse-input GEMV would compute, but nothing is skipped, so this is for
/// quality evaluation only and decodes slower than dense (4 round trips per layer and step).
/// Thresholds come from the dense prefill (reset at position 0, accumulated over chunks), or are fixed by
/// <see cref="SparsityOptions.Calibration"/> (then prefills are not observed and decode masks from the first step).
/// </summary>
public sealed class TealMasker : IFfnPolicyState
{
    private readonly TealCalibrator?[,] _sites;
    private readonly float[,] _thresholds;
    private readonly int[] _widths;
    private readonly bool[] _sparse;
    private float[] _host = [];

    internal TealMasker(ModelConfig config, SparsityOptions options)
    {
        options.Validate(config.Layers);
        if (options.Calibration?.MismatchWith(config) is { } problem)
            throw new ArgumentException(problem, nameof(options));
        Options = options;
        _sites = new TealCalibrator?[config.Layers, 4];
        _thresholds = new float[config.Layers, 4];
        _sparse = new bool[config.Layers];
        var (first, end) = options.LayerRange(config.Layers);
        _widths = [config.Dim, config.QueryDim, config.Dim, config.HiddenDim];
        for (int l = first; l < end; l++)
        {
            _sparse[l] = true;
            for (int s = 0; s < 4; s++)
            {
                if (options.Calibration is { } calibration)
                    _thresholds[l, s] = calibration.Threshold(l, (TealSite)s);
                else
                    _sites[l, s] = new TealCalibrator(_widths[s]);
            }
        }
    }

    public SparsityOptions Options { get; }

    /// <summary>τ of one input (0 when the layer is not sparsified or nothing was observed).</summary>
    public float Threshold(int layer, TealSite site) => _thresholds[layer, (int)site];

    internal void BeginPrompt()
    {
        foreach (var c in _sites)
            c?.Reset();
    }

    internal void EndPrefill()
    {
        for (int l = 0; l < _sites.GetLength(0); l++)
            for (int s = 0; s < 4; s++)
                if (_sites[l, s] is { RowCount: > 0 } c)
                    _thresholds[l, s] = c.Threshold(Options.Sparsity);
    }

    bool IFfnPolicyState.ObservesPrefill => Options.Calibration is null;
    bool IFfnPolicyState.BeginDecode(int rows) => false;
    bool IFfnPolicyState.IsSparse(int layer) => _sparse[layer];
    bool IFfnPolicyState.ObservesPreActivation => false;
    void IFfnPolicyState.ObserveFfn(int layer, DeviceBuffer activations, int rows) { }
    bool IFfnPolicyState.TryRunFfn(int layer, TensorDesc x, TensorDesc y) => false;
    bool IFfnPolicyState.ChangesDuringDecode => false;
    object? IFfnPolicyState.CaptureState() => null;
    void IFfnPolicyState.RestoreState(object? state) { }

    // The masks are applied through the host (OnLinearInput): nothing a graph could replay.
    bool IFfnPolicyState.TryGetDecodeGraphVersion(out long version)
    {
        version = 0;
        return false;
    }
    void IDisposable.Dispose() { }
    void IFfnPolicyState.BeginPrompt() => BeginPrompt();

    void IFfnPolicyState.OnLinearInput(int layer, TealSite site, DeviceBuffer input, int rows, bool decode)
    {
        if (decode)
            Mask(layer, site, input, rows);
        else
            Observe(layer, site, input, rows);
    }

    void IFfnPolicyState.EndPass(bool prefill, bool observed)
    {
        if (prefill)
            EndPrefill();
    }

    /// <summary>Prefill: adds the first <paramref name="rows"/> rows of the site's input to its statistics.</summary>
    internal void Observe(int layer, TealSite site, DeviceBuffer buffer, int rows)
    {
        if (_sites[layer, (int)site] is not { } c)
            return;
        var span = Host(rows * c.Width);
        buffer.CopyTo(span);
        c.Observe(span);
    }

    /// <summary>Decode: zeroes the entries of the first <paramref name="rows"/> rows below τ, in place.</summary>
    internal void Mask(int layer, TealSite site, DeviceBuffer buffer, int rows)
    {
        float tau = _thresholds[layer, (int)site];
        if (!_sparse[layer] || tau == 0f)
            return;
        var span = Host(rows * _widths[(int)site]);
        buffer.CopyTo(span);
        TealCalibrator.Mask(span, tau);
        buffer.CopyFrom<float>(span);
    }

    private Span<float> Host(int n)
    {
        if (_host.Length < n)
            _host = new float[n];
        return _host.AsSpan(0, n);
    }
}
