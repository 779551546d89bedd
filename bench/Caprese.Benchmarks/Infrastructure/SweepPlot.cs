using System.Globalization;
using System.Text;
using System.Text.Json;
using Caprese.Plotting;

namespace Caprese.Benchmarks.Infrastructure;

/// <summary>
/// <c>--plot INPUT [--out PNG]</c>: latency vs sparsity, one line per method, one panel per
/// (weights, batch), from
///  - a BenchmarkDotNet report of the CPU sweep (<c>*-report.csv</c>, or the full JSON from <c>--exporters json</c>), or
///  - the CUDA harness's JSON (<c>caprese_kernel_bench --suite sparse_ffn --json out.json</c>; one panel per model and batch).
/// The dense FFN is drawn dashed (the CPU sweep measures it at every sparsity point next to the sparse
/// methods; the harness once per panel, drawn flat). Also prints the points as a markdown table with each
/// method's speed-up over the dense FFN of the same panel and sparsity point (both measured in the same run).
/// </summary>
public static class SweepPlot
{
    /// <summary>One measured point.</summary>
    public sealed record Point(string Panel, string Method, double Sparsity, double MeanUs, string? Throughput)
    {
        /// <summary>The dense baseline (its sparsity is where it was measured, or -1 for once per panel).</summary>
        public bool IsDense => Method.StartsWith("dense", StringComparison.Ordinal);
    }

    public static int Run(string[] args)
    {
        string? input = null, output = null;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--out" && i + 1 < args.Length)
                output = args[++i];
            else if (input is null && !args[i].StartsWith("--", StringComparison.Ordinal))
                input = args[i];
            else
            {
                Console.Error.WriteLine($"--plot: unexpected argument '{args[i]}'");
                return 2;
            }
        }
        if (input is null)
        {
            Console.Error.WriteLine("usage: --plot REPORT.csv|REPORT-full.json|kernel_bench.json [--out plot.png]");
            return 2;
        }
        output ??= Path.ChangeExtension(input, ".png");
        (List<Point> points, string title) = Read(input);
        if (points.Count == 0)
        {
            Console.Error.WriteLine($"--plot: no sparse FFN sweep rows in {input}");
            return 1;
        }
        Save(points, title, output);
        Console.WriteLine(Table(points));
        Console.WriteLine($"wrote {output}");
        return 0;
    }

    public static (List<Point> Points, string Title) Read(string path)
    {
        string text = File.ReadAllText(path);
        if (path.EndsWith(".csv", StringComparison.OrdinalIgnoreCase))
            return (FromBdnCsv(text), "CPU sparse FFN: latency vs sparsity (BenchmarkDotNet)");
        using var doc = JsonDocument.Parse(text);
        if (doc.RootElement.TryGetProperty("cases", out _))
            return (FromHarnessJson(doc.RootElement), $"GPU sparse FFN (caprese_kernel_bench, {Str(doc.RootElement, "gpu")})");
        return (FromBdnJson(doc.RootElement), "CPU sparse FFN: latency vs sparsity (BenchmarkDotNet)");
    }

    private static string Str(JsonElement e, string name) => e.TryGetProperty(name, out var v) ? v.ToString() : "?";

    /// <summary>Panels per (weights, M) in the order weights, then batch; dense drawn dashed at its level.</summary>
    public static void Save(IReadOnlyList<Point> points, string title, string png)
    {
        var panels = new List<LinePlot>();
        string[] names = points.Select(p => p.Panel).Distinct().ToArray();
        double xMin = points.Where(p => p.Sparsity >= 0).Select(p => p.Sparsity).DefaultIfEmpty(0).Min();
        double xMax = points.Where(p => p.Sparsity >= 0).Select(p => p.Sparsity).DefaultIfEmpty(90).Max();
        foreach (string panel in names)
        {
            var plot = new LinePlot($"{panel}", "sparsity (% of FFN neurons skipped)", "latency (µs, log)") { LogY = true };
            var inPanel = points.Where(p => p.Panel == panel).ToList();
            foreach (var dense in inPanel.Where(p => p.Sparsity < 0))
                plot.Add(dense.Method, [xMin, xMax], [dense.MeanUs, dense.MeanUs], markers: false, dashed: true);
            foreach (var method in inPanel.Where(p => p.Sparsity >= 0).GroupBy(p => p.Method).OrderBy(g => g.First().IsDense ? 0 : 1))
            {
                var sorted = method.OrderBy(p => p.Sparsity).ToArray();
                plot.Add(method.Key, sorted.Select(p => p.Sparsity).ToArray(), sorted.Select(p => p.MeanUs).ToArray(),
                    markers: true, dashed: sorted[0].IsDense);
            }
            panels.Add(plot);
        }
        int columns = Math.Min(panels.Count, points.Select(p => BatchOf(p.Panel)).Distinct().Count());
        if (panels.Count == 1)
            panels[0].Title = $"{title} — {panels[0].Title}";
        LinePlot.SaveGridPng(png, panels, Math.Max(1, columns), 620, 440);
    }

    private static string BatchOf(string panel) =>
        panel.Split(' ').FirstOrDefault(t => t.StartsWith("M=", StringComparison.Ordinal) || (t.Length > 1 && t[0] == 'M' && char.IsDigit(t[1]))) ?? panel;

    /// <summary>
    /// Markdown, one row per (panel, sparsity): each method's mean and its speed-up over the dense FFN
    /// measured at the same point (or the panel's single dense figure).
    /// </summary>
    public static string Table(IReadOnlyList<Point> points)
    {
        string[] methods = points.Where(p => !p.IsDense).Select(p => p.Method).Distinct().ToArray();
        var sb = new StringBuilder();
        sb.Append("| panel | sparsity | dense (µs) |");
        foreach (string m in methods)
            sb.Append(CultureInfo.InvariantCulture, $" {m} (µs) | speed-up |");
        sb.AppendLine();
        sb.Append("|---|--:|--:|");
        foreach (string _ in methods)
            sb.Append("--:|--:|");
        sb.AppendLine();
        foreach (var panel in points.GroupBy(p => p.Panel))
        {
            double? flatDense = panel.Where(p => p.IsDense && p.Sparsity < 0).Select(p => (double?)p.MeanUs).FirstOrDefault();
            foreach (var at in panel.Where(p => p.Sparsity >= 0).GroupBy(p => p.Sparsity).OrderBy(g => g.Key))
            {
                double? dense = at.Where(p => p.IsDense).Select(p => (double?)p.MeanUs).FirstOrDefault() ?? flatDense;
                sb.Append(CultureInfo.InvariantCulture, $"| {panel.Key} | {at.Key:0}% | {(dense is { } dd ? dd.ToString("#,0.0", CultureInfo.InvariantCulture) : "")} |");
                foreach (string m in methods)
                {
                    Point? p = at.FirstOrDefault(q => q.Method == m);
                    if (p is null)
                        sb.Append(" | |");
                    else
                        sb.Append(CultureInfo.InvariantCulture,
                            $" {p.MeanUs:#,0.0} | {(dense is { } d ? (d / p.MeanUs).ToString("0.00", CultureInfo.InvariantCulture) + "x" : "")} |");
                }
                sb.AppendLine();
            }
        }
        return sb.ToString();
    }

    // ------------------------------------------------------------------ BenchmarkDotNet

    public static List<Point> FromBdnCsv(string text)
    {
        var rows = Csv(text);
        if (rows.Count < 2)
            return [];
        string[] header = rows[0];
        int Col(string name) => Array.FindIndex(header, h => h == name || h.StartsWith(name + " [", StringComparison.Ordinal));
        int type = Col("Type"), method = Col("Method"), wt = Col("WeightType"), m = Col("M"), sp = Col("Sparsity"),
            mean = Col("Mean"), tp = Col("Throughput");
        if (method < 0 || mean < 0 || m < 0)
            throw new InvalidDataException("not a sparse FFN sweep report: needs Method, M and Mean columns");
        string? meanUnit = header[mean].Contains('[') ? header[mean][(header[mean].IndexOf('[') + 1)..].TrimEnd(']') : null;
        var points = new List<Point>();
        foreach (string[] r in rows.Skip(1))
        {
            if (r.Length != header.Length || (type >= 0 && !r[type].StartsWith("SparseFfnSweep", StringComparison.Ordinal))
                || (type < 0 && sp < 0))
                continue;
            double? us = ParseTime(r[mean], meanUnit);
            if (us is null)
                continue;
            string weights = wt >= 0 ? r[wt] : "";
            string panel = $"{weights} M={r[m]}".Trim();
            double s = sp >= 0 && double.TryParse(r[sp], NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v : -1;
            points.Add(new Point(panel, MethodName(r[method].Trim('\'')), s, us.Value, tp >= 0 ? r[tp] : null));
        }
        return points;
    }

    public static List<Point> FromBdnJson(JsonElement root)
    {
        var points = new List<Point>();
        foreach (var b in root.GetProperty("Benchmarks").EnumerateArray())
        {
            string type = Str(b, "Type");
            if (!type.StartsWith("SparseFfnSweep", StringComparison.Ordinal))
                continue;
            if (!b.TryGetProperty("Statistics", out var stats) || stats.ValueKind != JsonValueKind.Object)
                continue;
            double us = stats.GetProperty("Mean").GetDouble() / 1000.0;
            var ps = Str(b, "Parameters").Split('&').Select(kv => kv.Split('=')).Where(kv => kv.Length == 2)
                .ToDictionary(kv => kv[0], kv => kv[1]);
            string panel = $"{ps.GetValueOrDefault("WeightType", "")} M={ps.GetValueOrDefault("M", "?")}".Trim();
            double s = ps.TryGetValue("Sparsity", out string? sv) ? double.Parse(sv, CultureInfo.InvariantCulture) : -1;
            points.Add(new Point(panel, MethodName(Str(b, "Method")), s, us, null));
        }
        return points;
    }

    private static string MethodName(string method) => method switch
    {
        "Dense" => "dense FFN (3 matmuls)",
        "GriffinGather" => "GRIFFIN gather (indices)",
        "GriffinCompact" => "GRIFFIN compact (sliced, all)",
        "Cats" => "CATS (threshold)",
        _ => method,
    };

    private static double? ParseTime(string cell, string? headerUnit)
    {
        string c = cell.Trim().Replace(",", "", StringComparison.Ordinal);
        if (c.Length == 0 || c == "NA" || c == "-")
            return null;
        int split = 0;
        while (split < c.Length && (char.IsDigit(c[split]) || c[split] is '.' or '-' or 'E' or 'e' or '+'))
            split++;
        if (!double.TryParse(c[..split], NumberStyles.Float, CultureInfo.InvariantCulture, out double v))
            return null;
        string unit = c[split..].Trim();
        if (unit.Length == 0)
            unit = headerUnit ?? "ns";
        return unit switch
        {
            "ns" => v / 1000.0,
            "us" or "μs" or "µs" => v,
            "ms" => v * 1000.0,
            "s" => v * 1e6,
            _ => null,
        };
    }

    private static List<string[]> Csv(string text)
    {
        // BenchmarkDotNet's CSV: comma-separated, fields with commas or quotes quoted ("" escapes a quote).
        var rows = new List<string[]>();
        var fields = new List<string>();
        var field = new StringBuilder();
        bool quoted = false;
        for (int i = 0; i < text.Length; i++)
        {
            char ch = text[i];
            if (quoted)
            {
                if (ch == '"' && i + 1 < text.Length && text[i + 1] == '"') { field.Append('"'); i++; }
                else if (ch == '"') quoted = false;
                else field.Append(ch);
            }
            else if (ch == '"') quoted = true;
            else if (ch == ',') { fields.Add(field.ToString()); field.Clear(); }
            else if (ch == '\n' || ch == '\r')
            {
                if (ch == '\r' && i + 1 < text.Length && text[i + 1] == '\n') i++;
                fields.Add(field.ToString()); field.Clear();
                if (fields.Count > 1 || fields[0].Length > 0) rows.Add([.. fields]);
                fields.Clear();
            }
            else field.Append(ch);
        }
        if (field.Length > 0 || fields.Count > 0) { fields.Add(field.ToString()); rows.Add([.. fields]); }
        return rows;
    }

    // ------------------------------------------------------------------ CUDA harness

    /// <summary>
    /// Harness cases: op "ffn"/impl "dense" with shape "8B M1 D4096 H14336", and op "sparse_ffn" with impl
    /// indices | idx+r256 | idx+unmerged r256 | sliced | threshold and shape "... s50%" (threshold adds " act50%").
    /// Other ops (matmul, rmsnorm, attention) are ignored.
    /// </summary>
    public static List<Point> FromHarnessJson(JsonElement root)
    {
        var points = new List<Point>();
        foreach (var c in root.GetProperty("cases").EnumerateArray())
        {
            string op = Str(c, "op"), impl = Str(c, "impl"), shape = Str(c, "shape"), dtype = Str(c, "dtype");
            if (op != "ffn" && op != "sparse_ffn")
                continue;
            string[] t = shape.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (t.Length < 4)
                continue;
            string panel = $"{t[0]} {dtype} M={t[1].TrimStart('M')} ({t[2]} {t[3]})";
            double s = -1;
            if (op == "sparse_ffn")
            {
                string? st = t.Skip(4).FirstOrDefault(x => x.StartsWith('s') && x.EndsWith('%'));
                if (st is null || !double.TryParse(st[1..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out s))
                    continue;
            }
            string method = op == "ffn" ? "dense FFN (3 GEMVs)" : impl switch
            {
                "indices" => "GRIFFIN gather (indices)",
                "idx+r256" => "gather + merged adapter (r=256)",
                "idx+unmerged r256" => "gather + unmerged adapter (r=256)",
                "sliced" => "GRIFFIN compact (sliced, all)",
                "threshold" => "CATS (threshold)",
                _ => impl,
            };
            double gbps = c.TryGetProperty("gbps", out var g) ? g.GetDouble() : 0;
            points.Add(new Point(panel, method, s, c.GetProperty("median_us").GetDouble(),
                gbps > 0 ? gbps.ToString("0.0", CultureInfo.InvariantCulture) + " GB/s" : null));
        }
        return points;
    }
}
