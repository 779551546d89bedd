using Caprese.Models.Formats;
using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Caprese.Plotting;

namespace Caprese.Cli.Commands;

/// <summary>
/// `caprese math-report`: the Caprese paper's accuracy table and sparsity sweep, assembled from a folder of eval-math
/// JSON results. Files named table-*.json are the table's rows in name order; files named sweep-*.json are points of the
/// sweep plot (accuracy against sparsity per method, with and without adapters); the table's dense row is the plot's
/// dense line. Recovery = (Caprese − sparse) / (dense − sparse) for each Caprese row whose sparse row has the same
/// method and sparsity.
/// </summary>
internal static class MathReportCommand
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static Command Create()
    {
        var results = new Option<string>("--results") { Description = "Folder of eval-math --json files (table-*.json rows, sweep-*.json points, gsm8k-*.json extra lines)", Required = true };
        var output = new Option<string>("--out", "-o") { Description = "Markdown file to write (written whole or not at all)", Required = true };
        var plot = new Option<string?>("--plot") { Description = "PNG of accuracy against sparsity (default: OUT with .png)" };
        var title = new Option<string?>("--title") { Description = "What the results are, for the headings (default: the model's folder name)" };
        var command = new Command("math-report", "Assemble eval-math results into the paper's accuracy table (markdown) and an accuracy-against-sparsity plot")
        {
            results, output, plot, title,
        };
        command.SetAction(parse =>
        {
            try
            {
                string outPath = parse.GetValue(output)!;
                var report = Build(parse.GetValue(results)!, parse.GetValue(title));
                AtomicFile.WriteAllText(outPath, report.Markdown);
                string plotPath = parse.GetValue(plot) ?? Path.ChangeExtension(outPath, ".png");
                if (report.Plot is { } p)
                    p.SavePng(plotPath, 1000, 640);
                Console.Out.Write(report.Markdown);
                return ExitCodes.Ok;
            }
            catch (Exception e) when (e is IOException or InvalidDataException or JsonException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return ExitCodes.BadArguments;
            }
        });
        return command;
    }

    private sealed record Row(string File, JsonNode Configuration, JsonNode Summary)
    {
        public string Method => Configuration["sparsity_method"]!.GetValue<string>();
        public double? Sparsity => Configuration["sparsity"]?.GetValue<double>();
        public bool HasAdapter => Configuration["adapter"] is not null;
        public string Decoding => Configuration["decoding"]!.GetValue<string>();
        public double Accuracy => Summary["accuracy"]!.GetValue<double>();
        public double Lower => Summary["accuracy_lower"]!.GetValue<double>();
        public double Upper => Summary["accuracy_upper"]!.GetValue<double>();
        public string Policy => Configuration["policy"]!.GetValue<string>();
        public string? Layers => Configuration["sparse_layers"]?.GetValue<string>();

        public string Label => (Decoding, Method, HasAdapter) switch
        {
            ("dense", "none", _) => "full (dense)",
            ("dense", _, false) => Policy,
            ("dense", _, true) => $"Caprese: {Policy}",
            _ => $"{Decoding} decoding, draft: {Policy}",
        };
    }

    private sealed record Report(string Markdown, LinePlot? Plot);

    private static List<Row> Read(string folder, string pattern) =>
        [.. Directory.GetFiles(folder, pattern).Order(StringComparer.Ordinal).Select(f =>
        {
            var root = JsonNode.Parse(File.ReadAllText(f)) ?? throw new InvalidDataException($"{f}: empty");
            if (root["command"]?.GetValue<string>() != "eval-math" || root["configuration"] is not { } c || root["summary"] is not { } s)
                throw new InvalidDataException($"{f}: not an eval-math --json result");
            return new Row(Path.GetFileName(f), c, s);
        })];

    private static Report Build(string folder, string? title)
    {
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException($"no folder {folder}");
        var table = Read(folder, "table-*.json");
        var sweep = Read(folder, "sweep-*.json");
        if (table.Count == 0 && sweep.Count == 0)
            throw new InvalidDataException($"{folder} holds no table-*.json or sweep-*.json eval-math results");
        var any = (table.Count > 0 ? table : sweep)[0].Configuration;
        string what = title ?? Path.GetFileName(any["model"]!.GetValue<string>().TrimEnd('/'));
        string commit = any["commit"]?.GetValue<string>() ?? "?";
        string data = Path.GetFileName(any["data"]!.GetValue<string>());

        var sb = new StringBuilder();
        sb.AppendLine($"# Math accuracy: {what}");
        sb.AppendLine();
        sb.AppendLine(string.Create(Inv, $"eval-math results from `{folder}`; data {data}; commit {commit}; machine {Environment.MachineName} ({Environment.ProcessorCount} cores); greedy decoding unless a row says otherwise."));
        if (table.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine("| | problems | accuracy (95% Wilson CI) | mean generated tokens | active FFN params / token | dense passes / token | decode tok/s |");
            sb.AppendLine("|---|---:|---|---:|---:|---:|---:|");
            foreach (var r in table)
            {
                var s = r.Summary;
                double? active = s["active_ffn_parameters_per_token"]?.GetValue<double>();
                long dense = s["dense_ffn_parameters"]!.GetValue<long>();
                string ffn = active is { } a ? string.Create(Inv, $"{a / 1e6:F2}M ({a / dense * 100:F0}%)") : "–";
                sb.AppendLine(string.Create(Inv,
                    $"| {r.Label} | {s["problems"]} | {r.Accuracy * 100:F1}% [{r.Lower * 100:F1}, {r.Upper * 100:F1}] | {s["mean_generated_tokens"]!.GetValue<double>():F1} | {ffn} | {Fmt(s["dense_passes_per_token"], "F3")} | {Fmt(s["decode_tokens_per_second"], "F0")} |"));
            }
            var denseRow = table.FirstOrDefault(r => r.Method == "none" && r.Decoding == "dense");
            if (denseRow is not null)
            {
                foreach (var c in table.Where(r => r.HasAdapter && r.Decoding == "dense"))
                {
                    var sparse = table.FirstOrDefault(r => !r.HasAdapter && r.Decoding == "dense" && r.Method == c.Method && r.Sparsity == c.Sparsity && r.Layers == c.Layers);
                    if (sparse is null)
                        continue;
                    double lost = denseRow.Accuracy - sparse.Accuracy;
                    sb.AppendLine();
                    sb.Append(string.Create(Inv, $"{c.Label}: recovers "));
                    sb.Append(lost > 0
                        ? string.Create(Inv, $"{(c.Accuracy - sparse.Accuracy) / lost * 100:F0}% of the {lost * 100:F1} points that sparsity lost ({sparse.Accuracy * 100:F1}% → {c.Accuracy * 100:F1}%, dense {denseRow.Accuracy * 100:F1}%).")
                        : "– (sparsity lost no accuracy).");
                    sb.AppendLine();
                }
            }
        }

        foreach (var g in Read(folder, "gsm8k-*.json"))
        {
            sb.AppendLine();
            sb.AppendLine(string.Create(Inv, $"GSM8K ({Path.GetFileName(g.Configuration["data"]!.GetValue<string>())}, {g.Summary["problems"]} problems), {g.Label}: {g.Accuracy * 100:F1}% [{g.Lower * 100:F1}, {g.Upper * 100:F1}], mean {g.Summary["mean_generated_tokens"]!.GetValue<double>():F1} generated tokens."));
        }

        LinePlot? plot = null;
        if (sweep.Count > 0)
        {
            plot = new LinePlot($"{what}: accuracy vs FFN sparsity, commit {commit}, {Environment.MachineName} CPU", "sparsity (fraction of FFN neurons skipped)", "accuracy (%)")
            { YFromZero = true };
            sb.AppendLine();
            sb.AppendLine("## Sweep");
            sb.AppendLine();
            sb.AppendLine("| method | adapters | sparsity | problems | accuracy (95% CI) | mean tokens |");
            sb.AppendLine("|---|---|---:|---:|---|---:|");
            foreach (var group in sweep.GroupBy(r => (r.Method, r.HasAdapter, Layers: r.Configuration["sparse_layers"]?.GetValue<string>())).OrderBy(g => g.Key.Method).ThenBy(g => g.Key.HasAdapter))
            {
                var points = group.OrderBy(r => r.Sparsity).ToList();
                string name = $"{group.Key.Method} (layers {group.Key.Layers}){(group.Key.HasAdapter ? " + Caprese" : "")}";
                plot.Add(name, points.Select(p => p.Sparsity ?? 0).ToArray(), points.Select(p => p.Accuracy * 100).ToArray(), markers: true, dashed: !group.Key.HasAdapter);
                foreach (var p in points)
                    sb.AppendLine(string.Create(Inv, $"| {group.Key.Method} (layers {group.Key.Layers}) | {(p.HasAdapter ? "Caprese" : "none")} | {p.Sparsity * 100:F0}% | {p.Summary["problems"]} | {p.Accuracy * 100:F1}% [{p.Lower * 100:F1}, {p.Upper * 100:F1}] | {p.Summary["mean_generated_tokens"]!.GetValue<double>():F1} |"));
            }
            if (table.FirstOrDefault(r => r.Method == "none" && r.Decoding == "dense") is { } d)
            {
                double lo = sweep.Min(r => r.Sparsity ?? 0), hi = sweep.Max(r => r.Sparsity ?? 0);
                plot.Add(string.Create(Inv, $"dense ({d.Accuracy * 100:F1}%)"), [lo, hi], [d.Accuracy * 100, d.Accuracy * 100], markers: false, dashed: true);
            }
            sb.AppendLine();
            sb.AppendLine("Dashed: sparsity alone; solid: with Caprese adapters.");
        }
        return new Report(sb.ToString(), plot);
    }

    private static string Fmt(JsonNode? node, string format) => node is null ? "–" : node.GetValue<double>().ToString(format, Inv);
}
