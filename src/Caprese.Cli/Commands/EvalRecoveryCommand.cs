using Caprese.Models.Formats;
using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Caprese.Cli.Training;
using Caprese.Interop;
using Caprese.Models;
using Caprese.Models.Loading;
using Caprese.Models.Sparsity;
using Caprese.Models.Training.Pipeline;

namespace Caprese.Cli.Commands;

/// <summary>
/// `caprese eval-recovery`: the Caprese recovery table. For each sparsity setting and adapter rank, trains stage 1
/// alone and stage 1 + stage 2 on the same corpus, and scores dense / sparse / stage 1 / stage 1+2 on held-out dense
/// continuations (KL, top-1, greedy agreement, recovered fractions of the gaps). Writes markdown and JSON.
/// </summary>
internal static class EvalRecoveryCommand
{
    private static readonly string[] SettingNames = ["griffin-first-half", "griffin-all", "cats-all"];

    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "Model path; default: the embedded stories260K" };
        var ranks = new Option<string>("--ranks") { Description = "Comma-separated adapter ranks", DefaultValueFactory = _ => "4,8,16,32,64" };
        var settings = new Option<string>("--settings") { Description = $"Comma-separated, from {string.Join(", ", SettingNames)}", DefaultValueFactory = _ => string.Join(",", SettingNames) };
        var tokens = new Option<int>("--eval-tokens") { Description = "Tokens per held-out dense continuation", DefaultValueFactory = _ => 64 };
        var markdown = new Option<string?>("--md") { Description = "Write the table as markdown here" };
        var json = new Option<string?>("--json") { Description = "Write the figures as JSON here" };
        var training = new TrainingArguments(new TrainingArguments.Defaults(Samples: 160, ContinuationTokens: 48, Stage1Epochs: 0, Stage1Lr: 1e-3,
            Stage1Init: "rrr", Stage2Epochs: 4, Stage2Lr: 2e-3));
        var command = new Command("eval-recovery", "How much of the sparsity gap Caprese adapters recover, per setting and rank (stage 1 alone and stage 1+2)")
        {
            model, ranks, settings, tokens, markdown, json,
        };
        foreach (var o in training.All.Where(o => o != training.Method && o != training.Layers && o != training.Rank))
            command.Options.Add(o);
        command.SetAction((parse, ct) => RunAsync(parse, training, parse.GetValue(model) ?? DefaultModel.Path, parse.GetValue(ranks)!,
            parse.GetValue(settings)!, parse.GetValue(tokens), parse.GetValue(markdown), parse.GetValue(json), ct));
        return command;
    }

    private sealed record Row(string Setting, int Rank, double ExtraParametersPercent, double SparseKl, double Stage1Kl, double Stage2Kl,
        double SparseTop1, double Stage1Top1, double Stage2Top1, double SparseGreedy, double Stage2Greedy,
        double KlRecoveredStage1, double KlRecoveredStage2, double Top1RecoveredStage2, double Stage2TokensPerSecond);

    private static async Task<int> RunAsync(ParseResult parse, TrainingArguments training, string modelPath, string rankList, string settingList,
        int evalTokens, string? markdownPath, string? jsonPath, CancellationToken ct)
    {
        var stderr = Console.Error;
        int[] ranks;
        try
        {
            ranks = rankList.Split(',').Select(r => int.Parse(r, CultureInfo.InvariantCulture)).ToArray();
            if (ranks.Any(r => r < 1))
                throw new FormatException();
        }
        catch (FormatException)
        {
            await stderr.WriteLineAsync($"error: --ranks must be positive integers separated by commas, not '{rankList}'");
            return ExitCodes.BadArguments;
        }
        var names = settingList.Split(',');
        if (names.FirstOrDefault(n => !SettingNames.Contains(n)) is { } bad)
        {
            await stderr.WriteLineAsync($"error: unknown setting '{bad}' (known: {string.Join(", ", SettingNames)})");
            return ExitCodes.BadArguments;
        }
        var (loaded, code) = await ModelOpener.OpenAsync(modelPath, new ModelLoadOptions(BackendKind.Cpu), needTokenizer: true, ct);
        if (loaded is null)
            return code;
        using (loaded)
        {
            var bar = new ConsoleProgressBar();
            try
            {
                int layers = loaded.Config.Layers;
                double sparsityLevel = parse.GetValue(training.Sparsity);
                var (train, heldOut, description) = training.BuildCorpus(parse, loaded,
                    new SynchronousProgress<int>(n => bar.Report("corpus", n, parse.GetValue(training.Samples), "dense model generating")), ct);
                bar.Finish();
                var evaluator = RecoveryReport.Evaluator(loaded, evalTokens);
                var baseOptions = training.Options(parse, layers, SparsityOptions.FirstHalf(SparsityMethod.Griffin, sparsityLevel, layers));
                var rows = new List<Row>();
                foreach (string name in names)
                {
                    var sparsity = name switch
                    {
                        "griffin-first-half" => SparsityOptions.FirstHalf(SparsityMethod.Griffin, sparsityLevel, layers),
                        "griffin-all" => new SparsityOptions(SparsityMethod.Griffin, sparsityLevel),
                        _ => new SparsityOptions(SparsityMethod.Cats, sparsityLevel),
                    };
                    foreach (int rank in ranks.Where(r => r <= loaded.Config.Dim))
                    {
                        var options = baseOptions with { Sparsity = sparsity, Rank = rank };
                        var progress = new SynchronousProgress<DistillationProgress>(p => bar.Report(p.Phase, p.Done, p.Total, $"{name} r{rank}: {p.Detail}"));
                        var stage1 = DistillationPipeline.Run(loaded, train, heldOut, options with { Stage2 = null }, description, null, progress, ct);
                        var both = DistillationPipeline.Run(loaded, train, heldOut, options, description, null, progress, ct);
                        bar.Finish();
                        var r1 = RecoveryReport.Measure(evaluator, sparsity, stage1.Adapters);
                        var r2 = RecoveryReport.Measure(evaluator, sparsity, both.Adapters);
                        var row = new Row(name, rank, both.Adapters.ParameterCount * 100.0 / Models.Adapters.AdapterSet.ModelParameterCount(loaded.Config),
                            r2.Sparse.MeanKl, r1.Caprese.MeanKl, r2.Caprese.MeanKl, r2.Sparse.Top1Agreement, r1.Caprese.Top1Agreement, r2.Caprese.Top1Agreement,
                            r2.Sparse.GreedyAgreement, r2.Caprese.GreedyAgreement, r1.KlRecovered, r2.KlRecovered, r2.Top1Recovered, both.History.Stage2TokensPerSecond);
                        rows.Add(row);
                        await stderr.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                            $"{name} r{rank}: KL {row.SparseKl:F4} -> stage 1 {row.Stage1Kl:F4} -> stage 2 {row.Stage2Kl:F4} ({row.KlRecoveredStage2 * 100:F1}% of the gap)"));
                    }
                }
                string md = Markdown(rows, description, evalTokens, sparsityLevel, baseOptions);
                await Console.Out.WriteAsync(md);
                if (markdownPath is not null)
                    AtomicFile.WriteAllText(markdownPath, md);
                if (jsonPath is not null)
                    AtomicFile.WriteAllText(jsonPath, JsonSerializer.Serialize(new { corpus = description, evalTokens, sparsity = sparsityLevel, rows },
                        new JsonSerializerOptions { WriteIndented = true }));
                return ExitCodes.Ok;
            }
            catch (OperationCanceledException)
            {
                bar.Finish();
                await stderr.WriteLineAsync("cancelled");
                return ExitCodes.Cancelled;
            }
            catch (Exception ex) when (ex is ArgumentException or InvalidDataException or NotSupportedException or FileNotFoundException or DirectoryNotFoundException)
            {
                bar.Finish();
                await stderr.WriteLineAsync($"error: {ex.Message}");
                return ExitCodes.BadArguments;
            }
        }
    }

    private static string Markdown(List<Row> rows, string corpus, int evalTokens, double sparsity, DistillationOptions o)
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Sparsity {sparsity * 100:F0}%; corpus {corpus}; stage 1 {(o.Stage1.Epochs == 0 ? "closed-form optimum" : $"{o.Stage1.Epochs} Adam epochs")}; " +
            $"stage 2 {o.Stage2?.Epochs ?? 0} epochs, lr {o.Stage2?.LearningRate}, batch {o.Stage2?.BatchSize}; held-out: {RecoveryReport.Prompts.Length} dense greedy continuations x {evalTokens} tokens.");
        sb.AppendLine();
        sb.AppendLine("| setting | rank | extra params | KL sparse | KL stage 1 | KL stage 1+2 | KL gap recovered (1 / 1+2) | top-1 sparse / 1 / 1+2 | top-1 gap recovered | greedy sparse / 1+2 | stage 2 tok/s |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in rows)
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Setting} | {r.Rank} | {r.ExtraParametersPercent:F2}% | {r.SparseKl:F4} | {r.Stage1Kl:F4} | {r.Stage2Kl:F4} | {r.KlRecoveredStage1 * 100:F1}% / {r.KlRecoveredStage2 * 100:F1}% | " +
                $"{r.SparseTop1 * 100:F1} / {r.Stage1Top1 * 100:F1} / {r.Stage2Top1 * 100:F1}% | {r.Top1RecoveredStage2 * 100:F1}% | {r.SparseGreedy * 100:F1} / {r.Stage2Greedy * 100:F1}% | {r.Stage2TokensPerSecond:F0} |");
        return sb.ToString();
    }
}
