using System.CommandLine;
using System.Globalization;
using Caprese.Cli.Training;
using Caprese.Models;
using Caprese.Models.Loading;
using Caprese.Models.Sparsity;

namespace Caprese.Cli.Commands;

/// <summary>`caprese eval-sparsity`: KL, top-1 and greedy agreement of each method at 25/50/75% against the dense model.</summary>
internal static class EvalSparsityCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "Model path (as for generate); default: the embedded stories260K" };
        var backend = new BackendArguments();
        var tokens = new Option<int>("--tokens", "-n") { Description = "Tokens the dense model generates per prompt (the held-out sequences)", DefaultValueFactory = _ => 32 };
        var sequences = new Option<int>("--sequences") { Description = $"Prompts used, 1..{RecoveryReport.Prompts.Length}", DefaultValueFactory = _ => RecoveryReport.Prompts.Length };
        var calibration = new Option<string?>("--calibration") { Description = "Also score cats and teal with fixed thresholds calibrated on this text (paragraphs separated by blank lines, or .jsonl with \"text\"/\"question\"); griffin stays per prompt" };
        tokens.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 2) r.AddError("--tokens must be >= 2"); });
        sequences.Validators.Add(r => { int n = r.GetValueOrDefault<int>(); if (n < 1 || n > RecoveryReport.Prompts.Length) r.AddError($"--sequences must be in 1..{RecoveryReport.Prompts.Length}"); });

        var command = new Command("eval-sparsity", "Compare GRIFFIN, CATS and TEAL decode with the dense model") { model, tokens, sequences, calibration };
        foreach (var o in backend.All)
            command.Options.Add(o);
        command.SetAction((parse, ct) => RunAsync(parse.GetValue(model) ?? DefaultModel.Path,
            backend.LoadOptions(parse),
            parse.GetValue(tokens), parse.GetValue(sequences), parse.GetValue(calibration), ct));
        return command;
    }

    private static async Task<int> RunAsync(string path, ModelLoadOptions load, int tokens, int sequences, string? calibrationPath, CancellationToken ct)
    {
        var stderr = Console.Error;
        var (loaded, code) = await ModelOpener.OpenAsync(path, load, needTokenizer: true, ct);
        if (loaded is null)
            return code;
        using (loaded)
        {
            var prompts = RecoveryReport.Prompts.Take(sequences).Select(p => loaded.Tokenizer.Encode(p, addBos: true)).ToList();
            QualityEvaluator evaluator;
            List<int[]>? calibrationText = null;
            try
            {
                evaluator = new QualityEvaluator(loaded.Model, prompts, tokens);
                if (calibrationPath is not null)
                    calibrationText = CalibrationText.Load(calibrationPath, loaded.Tokenizer, loaded.Config.MaxSeqLen);
            }
            catch (Exception ex) when (ex is ArgumentException or InvalidDataException or IOException or UnauthorizedAccessException)
            {
                await stderr.WriteLineAsync($"error: {(calibrationPath is not null && ex is not ArgumentException ? $"--calibration {calibrationPath}: " : "")}{ex.Message}");
                return ExitCodes.BadArguments;
            }
            var stdout = Console.Out;
            int layers = loaded.Config.Layers;
            await stdout.WriteLineAsync($"{sequences} sequences x {tokens} dense greedy tokens; griffin = first half of the layers (Caprese's setting), the others all {layers}");
            string file = calibrationPath is null ? "" : Path.GetFileName(calibrationPath);
            await stdout.WriteLineAsync(calibrationText is null
                ? "thresholds and selections calibrated on each prompt's prefill"
                : $"calibrated on: 'prefill' = each prompt's prefill; '{file}' = fixed thresholds from {calibrationText.Count} samples, {calibrationText.Sum(t => t.Length)} tokens of {calibrationPath} (griffin is per prompt by definition)");
            await stdout.WriteLineAsync("method         sparsity  KL(dense||sparse)  top-1 agree  greedy agree  calibrated on");
            var settings = new List<(string Label, Func<double, SparsityOptions> Options, bool FromText)>
            {
                ("griffin", s => SparsityOptions.Default(SparsityMethod.Griffin, s, layers), false),
                ("griffin-all", s => new SparsityOptions(SparsityMethod.Griffin, s), false),
            };
            foreach (var method in new[] { SparsityMethod.Cats, SparsityMethod.Teal })
            {
                settings.Add((method.ToString().ToLowerInvariant(), s => SparsityOptions.Default(method, s, layers), false));
                if (calibrationText is not null)
                    settings.Add((method.ToString().ToLowerInvariant(), s => SparsityOptions.Default(method, s, layers), true));
            }
            foreach (var (label, options, fromText) in settings)
                foreach (double s in new[] { 0.25, 0.5, 0.75 })
                {
                    ct.ThrowIfCancellationRequested();
                    var o = options(s);
                    if (fromText)
                        o = o with { Calibration = SparsityCalibration.FromText(loaded.Model, calibrationText!, o) };
                    var q = evaluator.Evaluate(o);
                    await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                        $"{label,-14} {s * 100,7:F0}%  {q.MeanKl,17:F4}  {q.Top1Agreement * 100,10:F1}%  {q.GreedyAgreement * 100,11:F1}%  {(fromText ? file : "prefill")}"));
                }
            return ExitCodes.Ok;
        }
    }
}
