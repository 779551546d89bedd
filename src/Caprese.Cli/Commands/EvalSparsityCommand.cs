using System.CommandLine;
using System.Globalization;
using Caprese.Cli.Training;
using Caprese.Interop;
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
        var backend = new Option<string>("--backend", "-b") { Description = "cpu or cuda", DefaultValueFactory = _ => "cpu" };
        backend.AcceptOnlyFromAmong("cpu", "cuda");
        var tokens = new Option<int>("--tokens", "-n") { Description = "Tokens the dense model generates per prompt (the held-out sequences)", DefaultValueFactory = _ => 32 };
        var sequences = new Option<int>("--sequences") { Description = $"Prompts used, 1..{RecoveryReport.Prompts.Length}", DefaultValueFactory = _ => RecoveryReport.Prompts.Length };
        var threads = new Option<int>("--threads") { Description = "CPU worker threads (0 = one per hardware thread)", DefaultValueFactory = _ => 0 };
        tokens.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 2) r.AddError("--tokens must be >= 2"); });
        sequences.Validators.Add(r => { int n = r.GetValueOrDefault<int>(); if (n < 1 || n > RecoveryReport.Prompts.Length) r.AddError($"--sequences must be in 1..{RecoveryReport.Prompts.Length}"); });
        threads.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 0) r.AddError("--threads must be >= 0"); });

        var command = new Command("eval-sparsity", "Compare GRIFFIN, CATS and TEAL decode with the dense model") { model, backend, tokens, sequences, threads };
        command.SetAction((parse, ct) => RunAsync(parse.GetValue(model) ?? DefaultModel.Path,
            new ModelLoadOptions(parse.GetValue(backend) == "cuda" ? BackendKind.Cuda : BackendKind.Cpu, NumThreads: parse.GetValue(threads)),
            parse.GetValue(tokens), parse.GetValue(sequences), ct));
        return command;
    }

    private static async Task<int> RunAsync(string path, ModelLoadOptions load, int tokens, int sequences, CancellationToken ct)
    {
        var stderr = Console.Error;
        var (loaded, code) = await ModelOpener.OpenAsync(path, load, needTokenizer: true, ct);
        if (loaded is null)
            return code;
        using (loaded)
        {
            var prompts = RecoveryReport.Prompts.Take(sequences).Select(p => loaded.Tokenizer.Encode(p, addBos: true)).ToList();
            QualityEvaluator evaluator;
            try
            {
                evaluator = new QualityEvaluator(loaded.Model, prompts, tokens);
            }
            catch (ArgumentException ex)
            {
                await stderr.WriteLineAsync($"error: {ex.Message}");
                return ExitCodes.BadArguments;
            }
            var stdout = Console.Out;
            int layers = loaded.Config.Layers;
            await stdout.WriteLineAsync($"{sequences} sequences x {tokens} dense greedy tokens; griffin = first half of the layers (Caprese's setting), the others all {layers}");
            await stdout.WriteLineAsync("method         sparsity  KL(dense||sparse)  top-1 agree  greedy agree");
            var settings = new (string Label, Func<double, SparsityOptions> Options)[]
            {
                ("griffin", s => SparsityOptions.Default(SparsityMethod.Griffin, s, layers)),
                ("griffin-all", s => new SparsityOptions(SparsityMethod.Griffin, s)),
                ("cats", s => SparsityOptions.Default(SparsityMethod.Cats, s, layers)),
                ("teal", s => SparsityOptions.Default(SparsityMethod.Teal, s, layers)),
            };
            foreach (var (label, options) in settings)
                foreach (double s in new[] { 0.25, 0.5, 0.75 })
                {
                    ct.ThrowIfCancellationRequested();
                    var q = evaluator.Evaluate(options(s));
                    await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                        $"{label,-14} {s * 100,7:F0}%  {q.MeanKl,17:F4}  {q.Top1Agreement * 100,10:F1}%  {q.GreedyAgreement * 100,11:F1}%"));
                }
            return ExitCodes.Ok;
        }
    }
}
