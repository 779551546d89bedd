using Caprese.Interop;
using Caprese.Models.Adapters;
using Caprese.Models.Transformer;

namespace Caprese.Models.Sparsity;

/// <summary>
/// GRIFFIN's and CATS's per-session state (<see cref="IFfnPolicyState"/>), what a <see cref="Sessions.DecodeSession"/> consults for contextual sparsity: which layers decode sparsely,
/// the hooks that copy prefill FFN rows to the host for the statistics, and the sparse FFN call itself.
/// A prefill at position 0 starts a new prompt (statistics reset); later prefills (chunks) add to it;
/// the selection is (re)made at the end of every prefill. With <see cref="SparsityOptions.Calibration"/> (CATS) the
/// thresholds are fixed: prefills are not observed and decode runs sparse from the first step.
/// </summary>
public sealed class SparseFfnDecoder : IFfnPolicyState
{
    private readonly SparseFfnLayer?[] _layers;
    private readonly DeviceAdapter?[] _adapters;
    private readonly CapreseContext _context;
    private readonly ModelWeights _weights;
    private readonly Activation _activation;
    private AdapterScratch? _adapterScratch;
    private float[] _hostRows = [];
    private int _decodeSteps;
    private long _graphVersion;  // bumped whenever a sparse FFN call's arguments may change (TryGetDecodeGraphVersion)

    internal SparseFfnDecoder(CapreseContext context, TransformerModel model, SparsityOptions options)
    {
        var weights = model.Weights;
        var config = weights.Config;
        options.Validate(config.Layers);
        if (options.Method is SparsityMethod.None or SparsityMethod.Teal)
            throw new ArgumentException($"{options.Method} does not decode through the sparse FFN", nameof(options));
        if (options.Calibration?.MismatchWith(config) is { } problem)
            throw new ArgumentException(problem, nameof(options));
        Options = options;
        _context = context;
        _weights = weights;
        _activation = config.Activation;
        _layers = new SparseFfnLayer?[config.Layers];
        _adapters = new DeviceAdapter?[config.Layers];
        var (first, end) = options.LayerRange(config.Layers);
        try
        {
            for (int l = first; l < end; l++)
                _layers[l] = new SparseFfnLayer(context, weights.Layers[l], model.TransposedDown(l), config, options, options.Calibration?.Threshold(l));
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public SparsityOptions Options { get; }

    public bool IsSparse(int layer) => _layers[layer] is not null;

    /// <summary>The current GRIFFIN selection of a layer (ascending neuron ids), or null.</summary>
    public int[]? SelectedNeurons(int layer) => _layers[layer]?.SelectedNeurons;

    /// <summary>The current CATS τ of a layer (0 when not sparse or not calibrated).</summary>
    public float Threshold(int layer) => _layers[layer]?.Threshold ?? 0f;

    internal bool NeedsPreActivation => Options.Method == SparsityMethod.Cats;

    /// <summary>Whether prefills feed the statistics (false with a calibration from text).</summary>
    internal bool ObservesPrefill => Options.Calibration is null;

    internal void BeginPrompt()
    {
        foreach (var layer in _layers)
            layer?.Reset();
        _decodeSteps = 0;
        _graphVersion++;
    }

    internal void SelectFromStatistics()
    {
        foreach (var layer in _layers)
            layer?.Select();
        _graphVersion++;
    }

    /// <summary>
    /// Starts a decode chunk; true when it must run densely and feed GRIFFIN's re-selection, i.e. when one of its rows
    /// is an ρ-th decode token (a chunk of several rows is one step of each of them).
    /// </summary>
    internal bool BeginDecodeStep(int rows = 1)
    {
        int before = _decodeSteps;
        _decodeSteps += rows;
        int rho = Options.GriffinReselectEvery;
        return Options.Method == SparsityMethod.Griffin && rho > 0 && _decodeSteps / rho > before / rho;
    }

    void IFfnPolicyState.BeginPrompt() => BeginPrompt();
    bool IFfnPolicyState.ObservesPrefill => ObservesPrefill;
    bool IFfnPolicyState.BeginDecode(int rows) => BeginDecodeStep(rows);
    bool IFfnPolicyState.ObservesPreActivation => NeedsPreActivation;
    void IFfnPolicyState.ObserveFfn(int layer, DeviceBuffer activations, int rows) => Observe(layer, activations, rows, NeedsPreActivation);
    bool IFfnPolicyState.TryRunFfn(int layer, TensorDesc x, TensorDesc y) => TryDecode(layer, x, y);
    void IFfnPolicyState.OnLinearInput(int layer, TealSite site, DeviceBuffer input, int rows, bool decode) { }

    void IFfnPolicyState.EndPass(bool prefill, bool observed)
    {
        if (observed)
            SelectFromStatistics();
    }

    bool IFfnPolicyState.ChangesDuringDecode => Options.Method == SparsityMethod.Griffin && Options.GriffinReselectEvery > 0;

    object? IFfnPolicyState.CaptureState()
    {
        if (!((IFfnPolicyState)this).ChangesDuringDecode)
            return _decodeSteps;
        return new GriffinState(_decodeSteps, [.. _layers.Select(l => l?.CaptureScores())], [.. _layers.Select(l => l?.Griffin?.RowCount ?? 0)]);
    }

    // GRIFFIN's indices and compacted weights live in buffers kept across selections and CATS's τ changes only in a
    // selection, so the calls' arguments change only with the events that bump the version.
    bool IFfnPolicyState.TryGetDecodeGraphVersion(out long version)
    {
        version = _graphVersion;
        return true;
    }

    void IFfnPolicyState.RestoreState(object? state)
    {
        _graphVersion++;
        switch (state)
        {
            case int steps:
                _decodeSteps = steps;
                break;
            case GriffinState g:
                _decodeSteps = g.DecodeSteps;
                for (int l = 0; l < _layers.Length; l++)
                    _layers[l]?.RestoreScores(g.Scores[l], g.Rows[l]);
                break;
            default:
                throw new ArgumentException("not a state of this policy", nameof(state));
        }
    }

    private sealed record GriffinState(int DecodeSteps, double[]?[] Scores, int[] Rows);

    /// <summary>Copies the first <paramref name="rows"/> rows of <paramref name="buffer"/> ([rows, H] f32) into the layer's statistics.</summary>
    internal void Observe(int layer, DeviceBuffer buffer, int rows, bool preActivation)
    {
        var l = _layers[layer]!;
        int n = checked(rows * (l.Griffin?.Hidden ?? l.Cats!.Hidden));
        if (_hostRows.Length < n)
            _hostRows = new float[n];
        var span = _hostRows.AsSpan(0, n);
        buffer.CopyTo(span);
        if (preActivation)
            l.Cats?.Observe(span);
        else
            l.Griffin?.Observe(span);
    }

    /// <summary>The adapters decode applies (null: none).</summary>
    public AdapterSet? Adapters { get; private set; }

    /// <summary>How <see cref="Adapters"/> run.</summary>
    public AdapterForm AdapterForm { get; private set; }

    /// <summary>Uploads <paramref name="adapters"/> (null: removes them); they must fit <see cref="Options"/>.</summary>
    internal void SetAdapters(AdapterSet? adapters, AdapterForm form)
    {
        if (!Enum.IsDefined(form))
            throw new ArgumentOutOfRangeException(nameof(form), form, "unknown adapter form");
        if (adapters?.MismatchWith(_weights.Config, Options) is { } problem)
            throw new ArgumentException(problem, nameof(adapters));
        ClearAdapters();
        _graphVersion++;
        if (adapters is null)
            return;
        try
        {
            for (int l = 0; l < _layers.Length; l++)
                if (_layers[l] is not null)
                    _adapters[l] = new DeviceAdapter(_context, adapters.ForLayer(l)!, form, _weights.Layers[l].WGate.DType);
            if (form == AdapterForm.Unmerged)
                _adapterScratch = new AdapterScratch(_context, adapters.Dim, adapters.Rank);
        }
        catch
        {
            ClearAdapters();
            throw;
        }
        Adapters = adapters;
        AdapterForm = form;
    }

    /// <summary>Runs the layer's sparse FFN (with its adapter, if any) into y; false (nothing written) when no selection exists yet.</summary>
    internal bool TryDecode(int layer, TensorDesc x, TensorDesc y) => TryDecode(layer, x, y, withAdapter: true);

    /// <summary>The layer's plain sparse FFN FF̂(x), no adapter (stage-1 targets are FF − FF̂).</summary>
    internal bool TryDecodeWithoutAdapter(int layer, TensorDesc x, TensorDesc y) => TryDecode(layer, x, y, withAdapter: false);

    private bool TryDecode(int layer, TensorDesc x, TensorDesc y, bool withAdapter)
    {
        if (_layers[layer] is not { Ready: true } l)
            return false;
        l.Decode(x, y, _activation, withAdapter ? _adapters[layer] : null, _adapterScratch);
        return true;
    }

    private void ClearAdapters()
    {
        for (int l = 0; l < _adapters.Length; l++)
        {
            _adapters[l]?.Dispose();
            _adapters[l] = null;
        }
        _adapterScratch?.Dispose();
        _adapterScratch = null;
        Adapters = null;
        AdapterForm = AdapterForm.Merged;
    }

    public void Dispose()
    {
        foreach (var layer in _layers)
            layer?.Dispose();
        ClearAdapters();
    }
}
