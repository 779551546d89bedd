using Caprese.Models.Formats;
using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Caprese.Cli.Training;
using Caprese.Models;
using Caprese.Models.Adapters;
using Caprese.Models.Decoding;
using Caprese.Models.Decoding.Judge;
using Caprese.Models.Loading;
using Caprese.Models.Sessions;
using Caprese.Models.Sparsity;

namespace Caprese.Cli.Commands;

/// <summary>
/// `caprese eval-decoding`: dense, sparse and Caprese decoding and the draft-verify methods over the same sparse (and
/// Caprese) draft, scored against dense greedy decoding on held-out prompts: agreement, the full model's NLL of the
/// text, teacher-forced KL where a method has one distribution per step, tokens per dense pass, effective density, speed.
/// </summary>
internal static class EvalDecodingCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "Model path (as for generate); default: the embedded stories260K" };
        var backend = new BackendArguments();
        var tokens = new Option<int>("--tokens", "-n") { Description = "Tokens generated per prompt", DefaultValueFactory = _ => 64 };
        var sequences = new Option<int>("--sequences") { Description = $"Held-out prompts used, 1..{RecoveryReport.Prompts.Length}", DefaultValueFactory = _ => RecoveryReport.Prompts.Length };
        var method = new Option<string>("--sparsity-method", "--draft-sparsity-method") { Description = "The sparse model (and draft): griffin or cats", DefaultValueFactory = _ => "griffin" };
        method.AcceptOnlyFromAmong(SparsityArguments.AdapterMethods);
        var sparsity = new Option<double>("--sparsity") { Description = "Fraction of FFN neurons skipped, in [0, 1)", DefaultValueFactory = _ => 0.5 };
        var layers = new Option<string?>("--sparse-layers") { Description = "all or first-half (default: first-half for griffin, all for cats)" };
        layers.AcceptOnlyFromAmong(SparsityArguments.LayerChoices);
        var adapter = new Option<string?>("--adapter") { Description = "Caprese adapters (from `caprese distill`) for the sparsity above: adds the caprese rows" };
        var judge = new Option<string?>("--judge") { Description = "A judge head (from `caprese judge-train`): adds the judge row" };
        var draftLength = new Option<int>("--draft-length") { Description = "speculative, judge: tokens drafted per verification", DefaultValueFactory = _ => 8 };
        var kernelSize = new Option<int>("--kernel-size") { Description = "sirius: tokens per correction pass", DefaultValueFactory = _ => 16 };
        var threshold = new Option<double>("--threshold") { Description = "sirius: the full model's probability a token needs to be kept", DefaultValueFactory = _ => 0.1 };
        var judgeThreshold = new Option<double>("--judge-threshold") { Description = "judge: the head's acceptance threshold", DefaultValueFactory = _ => 0.5 };
        var json = new Option<string?>("--json") { Description = "Also write the results as JSON (atomically)" };
        var markdown = new Option<string?>("--md") { Description = "Also write the table as markdown (atomically)" };
        tokens.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 2) r.AddError("--tokens must be >= 2"); });
        sequences.Validators.Add(r => { int n = r.GetValueOrDefault<int>(); if (n < 1 || n > RecoveryReport.Prompts.Length) r.AddError($"--sequences must be in 1..{RecoveryReport.Prompts.Length}"); });
        sparsity.Validators.Add(r => { double v = r.GetValueOrDefault<double>(); if (!(v >= 0 && v < 1)) r.AddError("--sparsity must be in [0, 1)"); });
        draftLength.Validators.Add(r => { int v = r.GetValueOrDefault<int>(); if (v < 1 || v > DraftVerifyDecoding.MaxDraftLength) r.AddError($"--draft-length must be in 1..{DraftVerifyDecoding.MaxDraftLength}"); });
        kernelSize.Validators.Add(r => { int v = r.GetValueOrDefault<int>(); if (v < 1 || v > DraftVerifyDecoding.MaxDraftLength) r.AddError($"--kernel-size must be in 1..{DraftVerifyDecoding.MaxDraftLength}"); });
        threshold.Validators.Add(r => { double v = r.GetValueOrDefault<double>(); if (!(v > 0 && v <= 1)) r.AddError("--threshold must be in (0, 1]"); });
        judgeThreshold.Validators.Add(r => { double v = r.GetValueOrDefault<double>(); if (!(v >= 0 && v < 1)) r.AddError("--judge-threshold must be in [0, 1)"); });

        var command = new Command("eval-decoding", "Score dense, sparse, Caprese, speculative, Sirius and judge decoding against dense greedy decoding")
        {
            model, tokens, sequences, method, sparsity, layers, adapter, judge, draftLength, kernelSize, threshold, judgeThreshold, json, markdown,
        };
        foreach (var o in backend.All)
            command.Options.Add(o);
        command.SetAction((parse, ct) => RunAsync(new Request(parse.GetValue(model) ?? DefaultModel.Path, backend.LoadOptions(parse),
            parse.GetValue(tokens), parse.GetValue(sequences), parse.GetValue(method)!, parse.GetValue(sparsity), parse.GetValue(layers),
            parse.GetValue(adapter), parse.GetValue(judge), parse.GetValue(draftLength), parse.GetValue(kernelSize), parse.GetValue(threshold),
            parse.GetValue(judgeThreshold), parse.GetValue(json), parse.GetValue(markdown)), ct));
        return command;
    }

    private sealed record Request(string ModelPath, ModelLoadOptions Load, int Tokens, int Sequences, string Method, double Sparsity, string? Layers,
        string? AdapterPath, string? JudgePath, int DraftLength, int KernelSize, double Threshold, double JudgeThreshold, string? Json, string? Markdown);

    private static async Task<int> RunAsync(Request request, CancellationToken ct)
    {
        var stderr = Console.Error;
        var (loaded, code) = await ModelOpener.OpenAsync(request.ModelPath, request.Load, needTokenizer: true, ct);
        if (loaded is null)
            return code;
        using (loaded)
        {
            List<DecodingCandidate> candidates;
            DecodingEvaluator evaluator;
            QualityEvaluator perStep;
            var prompts = RecoveryReport.Prompts.Take(request.Sequences).Select(p => loaded.Tokenizer.Encode(p, addBos: true)).ToList();
            try
            {
                var sparse = new FfnPolicy(SparsityArguments.Parse(request.Method, request.Sparsity, request.Layers, loaded.Config.Layers));
                FfnPolicy? caprese = null;
                if (request.AdapterPath is { } path)
                {
                    var adapters = AdapterFile.Load(path, loaded.Model).Adapters;
                    caprese = sparse with { Adapters = adapters };
                    caprese.Validate(loaded.Config);
                }
                JudgeHead? head = request.JudgePath is { } judgePath
                    ? JudgeHeadFile.Load(judgePath, ModelFingerprint.Compute(loaded.Model), loaded.Config.Dim).Head
                    : null;
                candidates = Candidates(request, sparse, caprese, head);
                await stderr.WriteLineAsync($"dense greedy reference: {prompts.Count} prompts x {request.Tokens} tokens");
                evaluator = new DecodingEvaluator(loaded.Model, prompts, request.Tokens);
                perStep = new QualityEvaluator(loaded.Model, prompts, request.Tokens);
            }
            catch (Exception ex) when (CommandFailures.InputErrorCode(ex) is { } exit)
            {
                await stderr.WriteLineAsync($"error: {ex.Message}");
                return exit;
            }

            var rows = new List<(DecodingQuality Quality, double? Kl)>();
            try
            {
                for (int i = 0; i < candidates.Count; i++)
                {
                    var c = candidates[i];
                    await stderr.WriteLineAsync($"[{i + 1}/{candidates.Count}] {c.Label}");
                    var quality = evaluator.Evaluate(c, ct);
                    double? kl = c.Method is PlainDecoding
                        ? perStep.Evaluate(c.Policy.Sparsity, c.Policy.Adapters, c.Policy.AdapterForm).MeanKl
                        : null;
                    rows.Add((quality, kl));
                }
            }
            catch (OperationCanceledException)
            {
                await stderr.WriteLineAsync("cancelled");
                return ExitCodes.Cancelled;
            }

            string sparsityText = candidates[1].Policy.Describe(loaded.Config.Layers);
            string table = Table(rows);
            string header = $"{prompts.Count} held-out prompts x {request.Tokens} greedy tokens; sparse = {candidates[1].Policy.Describe(loaded.Config.Layers)}; " +
                            string.Create(CultureInfo.InvariantCulture, $"γ = {request.DraftLength}, Sirius kernel {request.KernelSize} at threshold {request.Threshold}; backend {BackendArguments.Describe(loaded.Backend)}");
            await Console.Out.WriteLineAsync(header);
            await Console.Out.WriteAsync(table);
            if (request.Markdown is { } md)
                AtomicFile.WriteAllText(md, header + "\n\n" + table);
            if (request.Json is { } jsonPath)
                AtomicFile.WriteAllText(jsonPath, Json(request, loaded, sparsityText, rows));
            return ExitCodes.Ok;
        }
    }

    // The rows: per-step decoding with each policy, then each draft-verify method over each draft.
    private static List<DecodingCandidate> Candidates(Request r, FfnPolicy sparse, FfnPolicy? caprese, JudgeHead? judge)
    {
        var list = new List<DecodingCandidate>
        {
            new("dense", FfnPolicy.Dense, PlainDecoding.Instance),
            new("sparse", sparse, PlainDecoding.Instance),
        };
        if (caprese is not null)
            list.Add(new("caprese", caprese, PlainDecoding.Instance));
        list.Add(new("speculative (sparse draft)", sparse, DraftVerifyDecoding.Speculative(r.DraftLength)));
        if (caprese is not null)
            list.Add(new("speculative (caprese draft)", caprese, DraftVerifyDecoding.Speculative(r.DraftLength)));
        list.Add(new("sirius (sparse)", sparse, DraftVerifyDecoding.Sirius(r.KernelSize, r.Threshold)));
        if (caprese is not null)
            list.Add(new("sirius (caprese)", caprese, DraftVerifyDecoding.Sirius(r.KernelSize, r.Threshold)));
        if (judge is not null)
        {
            list.Add(new("judge (sparse draft)", sparse, DraftVerifyDecoding.Judge(judge, r.JudgeThreshold, r.DraftLength)));
            if (caprese is not null)
                list.Add(new("judge (caprese draft)", caprese, DraftVerifyDecoding.Judge(judge, r.JudgeThreshold, r.DraftLength)));
        }
        return list;
    }

    private static string Table(List<(DecodingQuality Q, double? Kl)> rows)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine("| decoding | greedy agree | exact seqs | dense NLL/token | KL(dense‖x) | tokens / dense pass (AAL) | drafts kept | effective density | decode tok/s |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var (q, kl) in rows)
        {
            var s = q.Stats;
            string aal = s.DensePasses > 0 ? s.AverageAdvance.ToString("F2", inv) : "–";
            string kept = s.Drafted > 0 ? string.Create(inv, $"{s.AcceptanceRate * 100:F1}%") + (s.AcceptedByJudgeOnly > 0 ? $" ({s.AcceptedByJudgeOnly} by judge)" : "") : "–";
            string klText = kl.HasValue ? kl.Value.ToString("F4", inv) : "–";
            sb.AppendLine(string.Create(inv,
                $"| {q.Label} | {q.GreedyAgreement * 100:F1}% | {q.ExactSequences}/{q.Prompts} | {q.DenseNll:F4} | {klText} | {aal} | {kept} | {q.EffectiveDensity:F3} | {q.TokensPerSecond:F0} |"));
        }
        return sb.ToString();
    }

    private static string Json(Request r, LoadedModel loaded, string sparsity, List<(DecodingQuality Q, double? Kl)> rows)
    {
        var doc = new
        {
            command = "eval-decoding",
            model = Path.GetFileName(r.ModelPath),
            backend = loaded.Backend.ToString().ToLowerInvariant(),
            prompts = r.Sequences,
            tokens = r.Tokens,
            sparsity,
            adapter = r.AdapterPath is null ? null : Path.GetFileName(r.AdapterPath),
            judge = r.JudgePath is null ? null : Path.GetFileName(r.JudgePath),
            draft_length = r.DraftLength,
            kernel_size = r.KernelSize,
            threshold = r.Threshold,
            judge_threshold = r.JudgeThreshold,
            rows = rows.Select(x => new
            {
                label = x.Q.Label,
                greedy_agreement = x.Q.GreedyAgreement,
                exact_sequences = x.Q.ExactSequences,
                dense_nll = x.Q.DenseNll,
                kl = x.Kl,
                tokens = x.Q.Stats.Tokens,
                draft_steps = x.Q.Stats.DraftSteps,
                dense_passes = x.Q.Stats.DensePasses,
                drafted = x.Q.Stats.Drafted,
                accepted = x.Q.Stats.Accepted,
                accepted_by_judge_only = x.Q.Stats.AcceptedByJudgeOnly,
                average_advance = x.Q.Stats.DensePasses > 0 ? x.Q.Stats.AverageAdvance : (double?)null,
                effective_density = x.Q.EffectiveDensity,
                tokens_per_second = x.Q.TokensPerSecond,
            }),
        };
        return JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true });
    }
}
