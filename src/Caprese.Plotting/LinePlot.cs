using ScottPlot;

namespace Caprese.Plotting;

/// <summary>
/// A line plot of named series (x, y points) rendered headless to PNG: benchmark sweeps
/// (latency vs sparsity), training-loss curves. Build it up, then <see cref="SavePng"/>.
/// Rendering needs no display: ScottPlot draws with SkiaSharp into an in-memory surface
/// (the Linux native library comes from SkiaSharp.NativeAssets.Linux.NoDependencies).
/// </summary>
public sealed class LinePlot
{
    private readonly List<Series> _series = [];

    /// <summary>Creates an empty plot.</summary>
    public LinePlot(string title, string xLabel, string yLabel)
    {
        Title = title;
        XLabel = xLabel;
        YLabel = yLabel;
    }

    /// <summary>Title over the plot.</summary>
    public string Title { get; set; }

    /// <summary>Label of the horizontal axis.</summary>
    public string XLabel { get; set; }

    /// <summary>Label of the vertical axis.</summary>
    public string YLabel { get; set; }

    /// <summary>Draw the vertical axis on a log10 scale (values must be &gt; 0).</summary>
    public bool LogY { get; set; }

    /// <summary>Start the vertical axis at zero (linear scale only); otherwise it fits the data.</summary>
    public bool YFromZero { get; set; }

    /// <summary>The series added so far, in order.</summary>
    public IReadOnlyList<Series> AllSeries => _series;

    /// <summary>Adds a series; points are drawn in the order given (sort x first for a sweep).</summary>
    /// <param name="name">Legend entry.</param>
    /// <param name="xs">X values.</param>
    /// <param name="ys">Y values, as many as <paramref name="xs"/>.</param>
    /// <param name="markers">Draw a marker at each point.</param>
    /// <param name="dashed">Dashed line (e.g. a reference such as the dense baseline).</param>
    public LinePlot Add(string name, IReadOnlyList<double> xs, IReadOnlyList<double> ys, bool markers = true, bool dashed = false)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(xs);
        ArgumentNullException.ThrowIfNull(ys);
        if (xs.Count != ys.Count)
            throw new ArgumentException($"series '{name}': {xs.Count} x values but {ys.Count} y values", nameof(ys));
        _series.Add(new Series(name, xs.ToArray(), ys.ToArray(), markers, dashed));
        return this;
    }

    /// <summary>Adds a series of y values at x = 0, 1, 2, ... (a loss curve per step).</summary>
    public LinePlot Add(string name, IReadOnlyList<double> ys, bool markers = false) =>
        Add(name, Enumerable.Range(0, ys.Count).Select(i => (double)i).ToArray(), ys, markers);

    /// <summary>
    /// Renders to a PNG at <paramref name="path"/>. The image is written to a temporary file
    /// in the same folder and renamed over the target, so a reader never sees a half-written file.
    /// </summary>
    public void SavePng(string path, int width = 900, int height = 600)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 50);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 50);
        WriteAtomically(path, RenderPng(width, height));
    }

    /// <summary>
    /// Renders several plots as panels of one PNG, <paramref name="columns"/> per row, each
    /// <paramref name="panelWidth"/> x <paramref name="panelHeight"/> pixels; written atomically like <see cref="SavePng"/>.
    /// </summary>
    public static void SaveGridPng(string path, IReadOnlyList<LinePlot> panels, int columns, int panelWidth = 700, int panelHeight = 480)
    {
        ArgumentNullException.ThrowIfNull(panels);
        if (panels.Count == 0)
            throw new ArgumentException("no panels to draw", nameof(panels));
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(panelWidth, 50);
        ArgumentOutOfRangeException.ThrowIfLessThan(panelHeight, 50);
        columns = Math.Min(columns, panels.Count);
        int rows = (panels.Count + columns - 1) / columns;
        var info = new SkiaSharp.SKImageInfo(columns * panelWidth, rows * panelHeight);
        using var surface = SkiaSharp.SKSurface.Create(info)
            ?? throw new InvalidOperationException("SkiaSharp could not create a raster surface");
        surface.Canvas.Clear(SkiaSharp.SKColors.White);
        for (int i = 0; i < panels.Count; i++)
        {
            using var image = SkiaSharp.SKImage.FromEncodedData(panels[i].RenderPng(panelWidth, panelHeight));
            surface.Canvas.DrawImage(image, i % columns * panelWidth, i / columns * panelHeight);
        }
        using var snapshot = surface.Snapshot();
        using var data = snapshot.Encode(SkiaSharp.SKEncodedImageFormat.Png, 100);
        WriteAtomically(path, data.ToArray());
    }

    private static void WriteAtomically(string path, byte[] bytes)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        string tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            File.WriteAllBytes(tmp, bytes);
            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp))
                File.Delete(tmp);
        }
    }

    /// <summary>Renders to PNG bytes.</summary>
    public byte[] RenderPng(int width = 900, int height = 600)
    {
        using var plot = Build();
        return plot.GetImage(width, height).GetImageBytes(ImageFormat.Png);
    }

    private Plot Build()
    {
        var plot = new Plot();
        plot.Title(Title);
        plot.XLabel(XLabel);
        plot.YLabel(YLabel);
        var palette = new ScottPlot.Palettes.Category10();
        for (int i = 0; i < _series.Count; i++)
        {
            Series s = _series[i];
            double[] ys = LogY ? s.Ys.Select(v => v > 0 ? Math.Log10(v) : double.NaN).ToArray() : s.Ys;
            var scatter = plot.Add.Scatter(s.Xs, ys, palette.GetColor(i));
            scatter.LegendText = s.Name;
            scatter.LineWidth = 2;
            scatter.MarkerSize = s.Markers ? 6 : 0;
            if (s.Dashed)
                scatter.LinePattern = LinePattern.Dashed;
        }
        if (LogY)
            plot.Axes.Left.TickGenerator = LogTicks(_series.SelectMany(s => s.Ys).Where(v => v > 0 && double.IsFinite(v)));
        if (_series.Count > 1 || (_series.Count == 1 && _series[0].Name.Length > 0))
        {
            // Below the axes, so it never hides a line.
            plot.ShowLegend(Edge.Bottom);
            plot.Legend.Orientation = Orientation.Horizontal;
        }
        plot.Axes.AutoScale();
        if (YFromZero && !LogY)
        {
            AxisLimits limits = plot.Axes.GetLimits();
            plot.Axes.SetLimitsY(0, limits.Top);
        }
        return plot;
    }

    // Major ticks at 1, 2, 5 x 10^k over the data's range (positions are log10 values).
    private static ScottPlot.TickGenerators.NumericManual LogTicks(IEnumerable<double> values)
    {
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        double[] v = values.ToArray();
        if (v.Length == 0)
            return ticks;
        int lo = (int)Math.Floor(Math.Log10(v.Min())), hi = (int)Math.Ceiling(Math.Log10(v.Max()));
        foreach (int k in Enumerable.Range(lo, hi - lo + 1))
            foreach (double mantissa in new[] { 1.0, 2.0, 5.0 })
            {
                double t = mantissa * Math.Pow(10, k);
                ticks.AddMajor(Math.Log10(t), FormatNumber(t));
                for (int minor = (int)mantissa + 1; minor < (mantissa == 5 ? 10 : mantissa == 2 ? 5 : 2); minor++)
                    ticks.AddMinor(Math.Log10(minor * Math.Pow(10, k)));
            }
        return ticks;
    }

    private static string FormatNumber(double v) =>
        v >= 1e7 || v < 0.01 ? v.ToString("G3", System.Globalization.CultureInfo.InvariantCulture)
        : v >= 1000 ? v.ToString("#,0", System.Globalization.CultureInfo.InvariantCulture)
        : v.ToString("0.##", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>One named line.</summary>
    public sealed record Series(string Name, double[] Xs, double[] Ys, bool Markers, bool Dashed);
}
