using System.CommandLine;
using System.Globalization;
using Caprese.Cli.Training;
using Caprese.Models;
using Caprese.Models.Loading;
using Caprese.Models.Adapters;
using Caprese.Models.Training.Pipeline;

namespace Caprese.Cli.Commands;

/// <summary>
/// `caprese distill`: trains Caprese adapters for one sparsity setting (stage 1 layer-wise, then stage 2 end to end),
/// with progress bars, a checkpoint after every layer and epoch (a rerun of the same command resumes from it), a
/// loss-curve PNG, and the held-out recovery against dense at the end.
/// </summary>
internal static class DistillCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "Model path (as for generate); default: the embedded stories260K" };
        var backend = new BackendArguments("cpu, cuda or cuda-sim (the CUDA kernels simulated on the CPU: slow, for testing): where collection, training and evaluation run (cuda never falls back to the CPU)");
        var output = new Option<string>("--out", "-o") { Description = "Adapter file to write (safetensors)", Required = true };
        var checkpoint = new Option<string?>("--checkpoint") { Description = "Checkpoint file (default: OUT.ckpt); an existing one of the same settings is resumed" };
        var plot = new Option<string?>("--plot") { Description = "Loss-curve PNG (default: OUT without extension + .loss.png)" };
        var evalTokens = new Option<int>("--eval-tokens") { Description = "Tokens per held-out dense continuation in the final evaluation (0 = skip it)", DefaultValueFactory = _ => 64 };
        var training = new TrainingArguments(new TrainingArguments.Defaults(Samples: 512, ContinuationTokens: 64, Stage1Epochs: 20, Stage1Lr: 1e-3,
            Stage1Init: "paper", Stage2Epochs: 3, Stage2Lr: 1e-4));

        var command = new Command("distill", "Train Caprese low-rank adapters that repair a sparsified model (stage 1 layer-wise, stage 2 end to end)")
        {
            model, output, checkpoint, plot, evalTokens,
        };
        foreach (var o in backend.All)
            command.Options.Add(o);
        foreach (var o in training.All)
            command.Options.Add(o);
        command.Validators.Add(training.ValidateCombination);
        command.SetAction((parse, ct) => RunAsync(parse, training,
            parse.GetValue(model) ?? DefaultModel.Path,
            backend.LoadOptions(parse),
            parse.GetValue(output)!, parse.GetValue(checkpoint), parse.GetValue(plot), parse.GetValue(evalTokens), ct));
        return command;
    }

    private static async Task<int> RunAsync(ParseResult parse, TrainingArguments training, string modelPath, ModelLoadOptions load,
        string output, string? checkpointPath, string? plotPath, int evalTokens, CancellationToken ct)
    {
        var stderr = Console.Error;
        var stdout = Console.Out;
        var (loaded, code) = await ModelOpener.OpenAsync(modelPath, load, needTokenizer: true, ct);
        if (loaded is null)
            return code;
        using (loaded)
        {
            var bar = new ConsoleProgressBar();
            var checkpoint = new DistillationCheckpoint(checkpointPath ?? output + ".ckpt");
            using var onCancel = ct.Register(() => Console.Error.WriteLine(Environment.NewLine + "interrupt: stopping after the current step"));
            plotPath ??= Path.Combine(Path.GetDirectoryName(Path.GetFullPath(output))!, Path.GetFileNameWithoutExtension(output) + ".loss.png");
            try
            {
                var options = training.Options(parse, loaded.Config.Layers);
                var (train, heldOut, description) = training.BuildCorpus(parse, loaded,
                    new SynchronousProgress<int>(n => bar.Report("corpus", n, parse.GetValue(training.Samples), "dense model generating")), ct);
                bar.Finish();
                int rank = options.Rank > 0 ? options.Rank : AdapterSet.DefaultRank(loaded.Config, options.Sparsity);
                var (first, end) = options.Sparsity.LayerRange(loaded.Config.Layers);
                await stderr.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"{options.Sparsity.Method.ToString().ToLowerInvariant()} {options.Sparsity.Sparsity * 100:F0}% in layers {first}..{end - 1}, rank {rank} " +
                    $"({2L * loaded.Config.Dim * rank * (end - first) * 100.0 / AdapterSet.ModelParameterCount(loaded.Config):F2}% extra parameters); " +
                    $"corpus: {train.Count} training + {heldOut.Count} held-out sequences, {train.ContinuationTokens} training positions"));
                if (checkpoint.Exists)
                    await stderr.WriteLineAsync($"resuming from {checkpoint.Path}");

                var result = DistillationPipeline.Run(loaded, train, heldOut, options, description, checkpoint,
                    new SynchronousProgress<DistillationProgress>(p => bar.Report(p.Phase, p.Done, p.Total, p.Detail)), ct);
                bar.Finish();

                var settings = new Dictionary<string, string>
                {
                    ["corpus"] = description,
                    ["stage1"] = FormattableString.Invariant($"epochs {options.Stage1.Epochs}, lr {options.Stage1.LearningRate}, batch {options.Stage1.BatchSize}, init {(options.Stage1.InitFromRrr ? "rrr" : "paper")}"),
                    ["stage2"] = options.Stage2 is { } s2 ? FormattableString.Invariant($"epochs {s2.Epochs}, lr {s2.LearningRate}, batch {s2.BatchSize}") : "skipped",
                    ["stage1_tokens_per_second"] = result.History.Stage1TokensPerSecond.ToString("F0", CultureInfo.InvariantCulture),
                    ["stage2_tokens_per_second"] = result.History.Stage2TokensPerSecond.ToString("F0", CultureInfo.InvariantCulture),
                    ["backend"] = BackendArguments.Name(loaded.Backend),
                };
                AdapterFile.Save(output, result.Adapters, new AdapterMetadata(result.BaseModel, settings));
                LossPlots.Save(plotPath, result.History);
                checkpoint.Delete();
                await stdout.WriteLineAsync($"adapters: {Path.GetFullPath(output)}");
                await stdout.WriteLineAsync($"loss curves: {Path.GetFullPath(plotPath)}");
                await WriteSummaryAsync(stdout, result.History);

                if (evalTokens > 0)
                {
                    var report = RecoveryReport.Measure(RecoveryReport.Evaluator(loaded, evalTokens), options.Sparsity, result.Adapters);
                    await stdout.WriteLineAsync($"held-out quality ({RecoveryReport.Prompts.Length} dense greedy continuations x {evalTokens} tokens):");
                    foreach (var line in report.Lines())
                        await stdout.WriteLineAsync("  " + line);
                }
                return ExitCodes.Ok;
            }
            catch (OperationCanceledException)
            {
                bar.Finish();
                await stderr.WriteLineAsync(checkpoint.Exists
                    ? $"interrupted; progress is in {checkpoint.Path}: run the same command again to resume"
                    : "interrupted before the first checkpoint");
                return ExitCodes.Cancelled;
            }
            catch (Exception ex) when (ex is ArgumentException or InvalidDataException or ModelFormatException or NotSupportedException
                or FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException)
            {
                bar.Finish();
                await stderr.WriteLineAsync($"error: {ex.Message}");
                return ExitCodes.BadArguments;
            }
        }
    }

    private static async Task WriteSummaryAsync(TextWriter o, DistillationHistory h)
    {
        foreach (var (layer, losses) in h.Stage1EpochLoss)
        {
            string optimum = h.Stage1OptimumLoss.TryGetValue(layer, out double opt) ? FormattableString.Invariant($", closed-form optimum {opt:E3}") : "";
            string trained = losses.Count > 0 ? FormattableString.Invariant($" -> last epoch {losses[^1]:E3}") : "";
            await o.WriteLineAsync(FormattableString.Invariant($"stage 1 layer {layer}: sparse mse {h.Stage1SparseLoss.GetValueOrDefault(layer):E3}{trained}{optimum}"));
        }
        if (h.Stage1TokensPerSecond > 0)
            await o.WriteLineAsync(FormattableString.Invariant($"stage 1 throughput: {h.Stage1TokensPerSecond:F0} tokens/s (a token = one layer's row, per epoch)"));
        if (h.Stage2HeldOutLoss.Count > 0)
            await o.WriteLineAsync(FormattableString.Invariant($"stage 2 held-out loss: {h.Stage2HeldOutLoss[0].Loss:F4} -> {h.Stage2HeldOutLoss[^1].Loss:F4}; throughput {h.Stage2TokensPerSecond:F0} tokens/s"));
    }
}
