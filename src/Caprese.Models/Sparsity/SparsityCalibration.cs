using System.Globalization;
using Caprese.Interop;
using Caprese.Models.Transformer;

namespace Caprese.Models.Sparsity;

/// <summary>
/// Fixed decode thresholds for CATS (one τ per sparsified layer, on |act(x·Wg)|) or TEAL (one τ per sparsified layer
/// and linear input, on |x|), calibrated once on text instead of on each prompt's prefill. Made by
/// <see cref="FromText"/>; used through <see cref="SparsityOptions.Calibration"/>. Immutable.
/// </summary>
/// <remarks>
/// The rows: the calibration sequences hold <see cref="TotalRows"/> tokens; every <see cref="RowStride"/>-th of them
/// (counting over all sequences in order, starting with the first) is kept, so that at most the cap
/// (<see cref="DefaultMaxRows"/> by default) and an even spread of the text reach each layer. Every sparsified layer and
/// site sees the same <see cref="RowCount"/> rows. The thresholds are the quantiles of <see cref="CatsCalibrator.Quantile"/>
/// over all entries of those rows, exactly as the per-prompt calibration computes them from a prefill.
/// </remarks>
public sealed class SparsityCalibration
{
    /// <summary>
    /// Rows kept per layer unless <see cref="FromText"/> is told otherwise: the per-prompt cap. All sparsified layers are
    /// held at once, so CATS keeps Layers · rows · HiddenDim floats (about 0.9 GB for an 8B Llama at 512 rows) and TEAL
    /// Layers · rows · (2·Dim + QueryDim + HiddenDim).
    /// </summary>
    public const int DefaultMaxRows = CatsCalibrator.MaxRows;

    private readonly float[] _cats;
    private readonly float[,] _teal;

    private SparsityCalibration(ModelConfig config, SparsityOptions options, float[] cats, float[,] teal,
        int sequenceCount, int totalRows, int rowStride, int rowCount)
    {
        Options = options;
        Layers = config.Layers;
        Dim = config.Dim;
        QueryDim = config.QueryDim;
        HiddenDim = config.HiddenDim;
        _cats = cats;
        _teal = teal;
        SequenceCount = sequenceCount;
        TotalRows = totalRows;
        RowStride = rowStride;
        RowCount = rowCount;
    }

    /// <summary>The sparsity this was made for (its own <see cref="SparsityOptions.Calibration"/> is null).</summary>
    public SparsityOptions Options { get; }

    public SparsityMethod Method => Options.Method;

    /// <summary>The shape of the model it was made on.</summary>
    public int Layers { get; }
    public int Dim { get; }
    public int QueryDim { get; }
    public int HiddenDim { get; }

    /// <summary>Non-empty calibration sequences prefilled.</summary>
    public int SequenceCount { get; }

    /// <summary>Tokens (rows) prefilled over all sequences.</summary>
    public int TotalRows { get; }

    /// <summary>Every this-many-th row was kept.</summary>
    public int RowStride { get; }

    /// <summary>Rows each sparsified layer (and TEAL site) took its quantile over.</summary>
    public int RowCount { get; }

    /// <summary>The sparsified layers [first, end).</summary>
    public (int First, int End) LayerRange => Options.LayerRange(Layers);

    /// <summary>CATS τ of <paramref name="layer"/> (0 for a layer that is not sparsified).</summary>
    /// <exception cref="InvalidOperationException">This is a TEAL calibration.</exception>
    public float Threshold(int layer)
    {
        if (Method != SparsityMethod.Cats)
            throw new InvalidOperationException("a TEAL calibration has one threshold per linear input: use Threshold(layer, site)");
        return _cats[layer];
    }

    /// <summary>TEAL τ of one linear input of <paramref name="layer"/> (0 for a layer that is not sparsified).</summary>
    /// <exception cref="InvalidOperationException">This is a CATS calibration.</exception>
    public float Threshold(int layer, TealSite site)
    {
        if (Method != SparsityMethod.Teal)
            throw new InvalidOperationException("a CATS calibration has one threshold per layer: use Threshold(layer)");
        if (!Enum.IsDefined(site))
            throw new ArgumentOutOfRangeException(nameof(site), site, "unknown TEAL site");
        return _teal[layer, (int)site];
    }

    /// <summary>
    /// Runs the dense model over <paramref name="sequences"/> (prefill only, each at position 0; longer ones are cut to
    /// the context) and takes the thresholds for <paramref name="options"/> from the activations of at most
    /// <paramref name="maxRows"/> evenly spaced rows per layer. It runs on a session of its own: no other session's
    /// cache, policy or statistics change.
    /// </summary>
    /// <exception cref="ArgumentException">The method is not CATS or TEAL, the options do not fit the model, or there are no tokens.</exception>
    public static SparsityCalibration FromText(TransformerModel model, IEnumerable<int[]> sequences, SparsityOptions options, int maxRows = DefaultMaxRows)
    {
        var collector = Collect(model, sequences, options, maxRows);
        var config = model.Config;
        var o = collector.Options;
        var cats = new float[config.Layers];
        var teal = new float[config.Layers, 4];
        var (first, end) = o.LayerRange(config.Layers);
        for (int l = first; l < end; l++)
        {
            if (o.Method == SparsityMethod.Cats)
                cats[l] = collector.Cats(l).Threshold(o.Sparsity);
            else
                for (int s = 0; s < 4; s++)
                    teal[l, s] = collector.Teal(l, (TealSite)s).Threshold(o.Sparsity);
        }
        return new SparsityCalibration(config, o, cats, teal, collector.SequenceCount, collector.TotalRows, collector.Stride, collector.KeptRows);
    }

    /// <summary>The prefill and row collection of <see cref="FromText"/>, with the raw statistics (tests compare against them).</summary>
    internal static CalibrationCollector Collect(TransformerModel model, IEnumerable<int[]> sequences, SparsityOptions options, int maxRows = DefaultMaxRows)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(sequences);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRows, 1);
        var config = model.Config;
        options = options with { Calibration = null };
        options.Validate(config.Layers);
        if (options.Method == SparsityMethod.Griffin)
            throw new ArgumentException("GRIFFIN selects its neurons from each prompt's own prefill and takes no calibration", nameof(options));
        if (options.Method != SparsityMethod.Cats && options.Method != SparsityMethod.Teal)
            throw new ArgumentException($"{options.Method} has no thresholds to calibrate (CATS and TEAL do)", nameof(options));

        var list = new List<int[]>();
        foreach (var sequence in sequences)
        {
            if (sequence is null)
                throw new ArgumentException("null calibration sequence", nameof(sequences));
            if (sequence.Length > 0)
                list.Add(sequence.Length > config.MaxSeqLen ? sequence[..config.MaxSeqLen] : sequence);
        }
        long total = list.Sum(s => (long)s.Length);
        if (total == 0)
            throw new ArgumentException("the calibration text has no tokens", nameof(sequences));
        if (total > int.MaxValue)
            throw new ArgumentException($"{total} calibration tokens are too many", nameof(sequences));
        int stride = (int)((total + maxRows - 1) / maxRows);

        var collector = new CalibrationCollector(config, options, list.Count, (int)total, stride);
        int start = 0;
        using var session = model.CreateSession(); // leaves every other session's cache alone
        foreach (var sequence in list)
        {
            collector.BeginSequence(start);
            session.PrefillObserving(sequence, collector);
            start += sequence.Length;
        }
        return collector;
    }

    /// <summary>Why this calibration cannot serve a model of <paramref name="config"/>, or null when its shape fits.</summary>
    public string? MismatchWith(ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.Layers != Layers)
            return $"the calibration was made on a {Layers}-layer model, this one has {config.Layers}";
        if (config.Dim != Dim || config.QueryDim != QueryDim || config.HiddenDim != HiddenDim)
            return $"the calibration was made on a model of dimensions {Dim}/{QueryDim}/{HiddenDim} (model/query/FFN), this one has {config.Dim}/{config.QueryDim}/{config.HiddenDim}";
        return null;
    }

    /// <summary>Why this calibration cannot serve <paramref name="options"/> on a model of <paramref name="layers"/> layers, or null.</summary>
    internal string? MismatchWith(SparsityOptions options, int layers)
    {
        if (layers != Layers)
            return $"the calibration was made on a {Layers}-layer model, this one has {layers}";
        if (options.Method != Method)
            return options.Method == SparsityMethod.Griffin
                ? $"GRIFFIN selects its neurons from each prompt's own prefill and takes no calibration (this one is for {Describe(Options)})"
                : $"the calibration is for {Describe(Options)}, not {Describe(options)}";
        if (options.Sparsity != Options.Sparsity)
            return $"the calibration is for {Describe(Options)}, not {Describe(options)}";
        // LayerRange would call Validate, which calls this: resolve the range by hand.
        int first = options.FirstLayer, end = options.LayerCount is { } n ? first + n : layers;
        var (ownFirst, ownEnd) = LayerRange;
        if (first != ownFirst || end != ownEnd)
            return $"the calibration covers layers {ownFirst}..{ownEnd - 1}, the options sparsify {first}..{end - 1}";
        return null;
    }

    public override string ToString() =>
        $"{Describe(Options)} calibrated on {RowCount} of {TotalRows} rows from {SequenceCount} sequence(s)";

    private string Describe(SparsityOptions o) =>
        string.Create(CultureInfo.InvariantCulture, $"{o.Method.ToString().ToUpperInvariant()} at {o.Sparsity}");
}

/// <summary>
/// Collects the rows of a calibrating prefill: global row r (counted over all sequences) is kept when r % stride = 0,
/// and goes to every sparsified layer's CATS calibrator or every sparsified layer's four TEAL calibrators.
/// </summary>
internal sealed class CalibrationCollector : IPrefillObserver
{
    private readonly CatsCalibrator?[] _cats;
    private readonly TealCalibrator?[,] _teal;
    private readonly List<int> _kept = [];
    private float[] _host = [];
    private int _sequenceStart;

    public CalibrationCollector(ModelConfig config, SparsityOptions options, int sequenceCount, int totalRows, int stride)
    {
        Options = options;
        SequenceCount = sequenceCount;
        TotalRows = totalRows;
        Stride = stride;
        KeptRows = (totalRows + stride - 1) / stride;
        _cats = new CatsCalibrator?[config.Layers];
        _teal = new TealCalibrator?[config.Layers, 4];
        int[] widths = [config.Dim, config.QueryDim, config.Dim, config.HiddenDim];
        var (first, end) = options.LayerRange(config.Layers);
        for (int l = first; l < end; l++)
        {
            if (options.Method == SparsityMethod.Cats)
                _cats[l] = new CatsCalibrator(config.HiddenDim, config.Activation, KeptRows);
            else
                for (int s = 0; s < 4; s++)
                    _teal[l, s] = new TealCalibrator(widths[s], KeptRows);
        }
    }

    public SparsityOptions Options { get; }
    public int SequenceCount { get; }
    public int TotalRows { get; }
    public int Stride { get; }

    /// <summary>Rows every calibrator receives: ⌈TotalRows / Stride⌉.</summary>
    public int KeptRows { get; }

    public CatsCalibrator Cats(int layer) => _cats[layer] ?? throw new ArgumentOutOfRangeException(nameof(layer), layer, "not a calibrated CATS layer");

    public TealCalibrator Teal(int layer, TealSite site) =>
        _teal[layer, (int)site] ?? throw new ArgumentOutOfRangeException(nameof(layer), layer, "not a calibrated TEAL layer");

    /// <summary>The next prefill starts at global row <paramref name="globalRow"/>.</summary>
    public void BeginSequence(int globalRow) => _sequenceStart = globalRow;

    public void BeginRows(int pos0, int rows)
    {
        _kept.Clear();
        for (int i = 0; i < rows; i++)
            if ((_sequenceStart + pos0 + i) % Stride == 0)
                _kept.Add(i);
    }

    public void ObserveGate(int layer, DeviceBuffer gate)
    {
        if (_cats[layer] is { } c)
            Observe(gate, c.Hidden, c.Observe);
    }

    public void ObserveInput(int layer, TealSite site, DeviceBuffer input)
    {
        if (_teal[layer, (int)site] is { } c)
            Observe(input, c.Width, c.Observe);
    }

    private delegate void RowSink(ReadOnlySpan<float> rows);

    private void Observe(DeviceBuffer buffer, int width, RowSink sink)
    {
        if (_kept.Count == 0)
            return;
        // Copy up to the last kept row, then hand over the kept rows one by one.
        int n = checked((_kept[^1] + 1) * width);
        if (_host.Length < n)
            _host = new float[n];
        var span = _host.AsSpan(0, n);
        buffer.CopyTo(span);
        foreach (int row in _kept)
            sink(span.Slice(row * width, width));
    }
}
