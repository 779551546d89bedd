using System.CommandLine;
using System.Globalization;
using Caprese.Cli.Training;
using Caprese.Models;
using Caprese.Models.Adapters;
using Caprese.Models.Generation;
using Caprese.Models.Loading;
using Caprese.Models.Sparsity;
using Caprese.Models.Training.Pipeline;

namespace Caprese.Cli.Commands;

/// <summary>
/// `caprese demo` (the README's main command): sparsifies the embedded model's decode, trains Caprese adapters for it
/// in seconds (or loads them), and prints dense / sparse / Caprese side by side: quality against dense on held-out
/// continuations, decode tokens/s, and a sample continuation each.
/// </summary>
internal static class DemoCommand
{
    private const string SamplePrompt = "Once upon a time";

    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "Model path (as for generate); default: the embedded stories260K" };
        var backend = new BackendArguments();
        var adapter = new Option<string?>("--adapter") { Description = "Use these adapters (from `caprese distill` or --save) instead of training" };
        var save = new Option<string?>("--save") { Description = "Also write the trained adapters to this file" };
        var tokens = new Option<int>("--eval-tokens") { Description = "Tokens per held-out dense continuation", DefaultValueFactory = _ => 64 };
        tokens.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 2) r.AddError("--eval-tokens must be >= 2"); });
        // Well under a minute on a 2-core CPU: stage 1 is the closed-form optimum, stage 2 eight epochs over 288 generated
        // stories (the setting of the recorded recovery table, bench/results/caprese-recovery-stories260K.md).
        var training = new TrainingArguments(new TrainingArguments.Defaults(Samples: 320, ContinuationTokens: 48, Stage1Epochs: 0, Stage1Lr: 1e-3,
            Stage1Init: "rrr", Stage2Epochs: 8, Stage2Lr: 3e-3));

        var command = new Command("demo", "Dense vs sparse vs Caprese on the embedded model: train the adapters, then compare quality, speed and text")
        {
            model, adapter, save, tokens,
        };
        foreach (var o in backend.All)
            command.Options.Add(o);
        foreach (var o in training.All)
            command.Options.Add(o);
        command.Validators.Add(training.ValidateCombination);
        command.SetAction((parse, ct) => RunAsync(parse, training, parse.GetValue(model) ?? DefaultModel.Path,
            backend.LoadOptions(parse),
            parse.GetValue(adapter), parse.GetValue(save), parse.GetValue(tokens), ct));
        return command;
    }

    private static async Task<int> RunAsync(ParseResult parse, TrainingArguments training, string modelPath, ModelLoadOptions load,
        string? adapterPath, string? savePath, int evalTokens, CancellationToken ct)
    {
        var stdout = Console.Out;
        var stderr = Console.Error;
        var (loaded, code) = await ModelOpener.OpenAsync(modelPath, load, needTokenizer: true, ct);
        if (loaded is null)
            return code;
        using (loaded)
        {
            var bar = new ConsoleProgressBar();
            try
            {
                var c = loaded.Config;
                AdapterSet adapters;
                string origin;
                var clock = System.Diagnostics.Stopwatch.StartNew();
                if (adapterPath is not null)
                {
                    adapters = AdapterFile.Load(adapterPath, loaded.Model).Adapters;
                    origin = $"loaded from {adapterPath}";
                }
                else
                {
                    var options = training.Options(parse, c.Layers);
                    var (train, heldOut, description) = training.BuildCorpus(parse, loaded,
                        new SynchronousProgress<int>(n => bar.Report("corpus", n, parse.GetValue(training.Samples), "dense model generating")), ct);
                    var result = DistillationPipeline.Run(loaded, train, heldOut, options, description, null,
                        new SynchronousProgress<DistillationProgress>(p => bar.Report(p.Phase, p.Done, p.Total, p.Detail)), ct);
                    bar.Finish();
                    adapters = result.Adapters;
                    var h = result.History;
                    origin = string.Create(CultureInfo.InvariantCulture,
                        $"trained in {clock.Elapsed.TotalSeconds:F1} s on {train.Count} stories the dense model wrote: stage 1 {(options.Stage1.Epochs == 0 ? "closed-form optimum" : $"{options.Stage1.Epochs} Adam epochs")}, " +
                        $"stage 2 {options.Stage2?.Epochs ?? 0} epochs{(h.Stage2HeldOutLoss.Count > 1 ? $" (held-out loss {h.Stage2HeldOutLoss[0].Loss:F3} -> {h.Stage2HeldOutLoss[^1].Loss:F3}, {h.Stage2TokensPerSecond:F0} tokens/s)" : "")}");
                    if (savePath is not null)
                    {
                        AdapterFile.Save(savePath, adapters, new AdapterMetadata(result.BaseModel, new Dictionary<string, string> { ["corpus"] = description }));
                        origin += $"; saved to {savePath}";
                    }
                }
                var sparsity = adapters.Sparsity;
                var (first, end) = sparsity.LayerRange(c.Layers);
                await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"model: {Path.GetFileName(loaded.ModelPath)} (dim {c.Dim}, {c.Layers} layers, FFN {c.HiddenDim}), backend {BackendArguments.Describe(loaded.Backend)}"));
                await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"sparsity: {sparsity.Method.ToString().ToLowerInvariant()} {sparsity.Sparsity * 100:F0}% of the FFN neurons in layers {first}..{end - 1}; " +
                    $"caprese: rank {adapters.Rank} (+{adapters.ParameterCount * 100.0 / AdapterSet.ModelParameterCount(c):F2}% parameters), merged into the sparse FFN kernel"));
                await stdout.WriteLineAsync($"adapters: {origin}");
                await stdout.WriteLineAsync();

                var report = RecoveryReport.Measure(RecoveryReport.Evaluator(loaded, evalTokens), sparsity, adapters);
                var rows = new (string Name, SparsityOptions? Sparsity, AdapterSet? Adapters, SparsityQuality? Quality)[]
                {
                    ("dense", null, null, null), ("sparse", sparsity, null, report.Sparse), ("caprese", sparsity, adapters, report.Caprese),
                };
                await stdout.WriteLineAsync($"{"",-8} {"KL(dense||x)",12} {"top-1 agree",11} {"greedy agree",12} {"decode tok/s",12}  held-out: {RecoveryReport.Prompts.Length} dense continuations x {evalTokens} tokens");
                var samples = new List<(string, string)>();
                foreach (var (name, s, a, q) in rows)
                {
                    ct.ThrowIfCancellationRequested();
                    loaded.Model.SetSparsity(s);
                    loaded.Model.SetAdapters(a);
                    var (speed, text) = Run(loaded, ct);
                    samples.Add((name, text));
                    await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                        $"{name,-8} {q?.MeanKl ?? 0,12:F4} {(q?.Top1Agreement ?? 1) * 100,10:F1}% {(q?.GreedyAgreement ?? 1) * 100,11:F1}% {speed,12:F0}"));
                }
                await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"caprese recovers {report.KlRecovered * 100:F1}% of the sparse model's KL gap and {report.Top1Recovered * 100:F1}% of its top-1 gap"));
                await stdout.WriteLineAsync();
                await stdout.WriteLineAsync($"greedy continuations of \"{SamplePrompt}\":");
                foreach (var (name, text) in samples)
                    await stdout.WriteLineAsync($"  {name,-8} {SamplePrompt}{text.ReplaceLineEndings(" ")}");
                return ExitCodes.Ok;
            }
            catch (OperationCanceledException)
            {
                bar.Finish();
                await stderr.WriteLineAsync("cancelled");
                return ExitCodes.Cancelled;
            }
            catch (Exception ex) when (ex is ArgumentException or InvalidDataException or ModelFormatException or AdapterMismatchException
                or NotSupportedException or FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException)
            {
                bar.Finish();
                await stderr.WriteLineAsync($"error: {ex.Message}");
                return ExitCodes.BadArguments;
            }
        }
    }

    // Decode speed of the current setting (the best of three 128-token greedy runs: the tiny model decodes in
    // microseconds, so one run is noise) and a 48-token sample.
    private static (double TokensPerSecond, string Text) Run(LoadedModel loaded, CancellationToken ct)
    {
        double best = 0;
        for (int i = 0; i < 3; i++)
        {
            loaded.Generator.Generate(SamplePrompt, new GenerationOptions(MaxTokens: 128), ct);
            best = Math.Max(best, loaded.Generator.LastStats!.DecodeTokensPerSecond);
        }
        var sample = loaded.Generator.Generate(SamplePrompt, new GenerationOptions(MaxTokens: 48), ct);
        return (best, sample.Text);
    }
}
