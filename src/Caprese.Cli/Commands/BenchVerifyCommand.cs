using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Caprese.Interop;
using Caprese.Models;
using Caprese.Models.Decoding;
using Caprese.Models.Sessions;
using Caprese.Models.Sparsity;
using Caprese.Models.Transformer;
using Caprese.Plotting;

namespace Caprese.Cli.Commands;

/// <summary>
/// `caprese bench-verify`: the cost model that decides whether draft-then-verify decoding pays. It times, on a synthetic
/// (seeded random) model of a preset shape, one dense decode step t_dense(1), one dense Verify pass over k rows
/// t_verify(k) for k = 1..<c>--max-rows</c> (and γ + 1 for each projected γ), and one sparse decode step of the draft
/// policy t_draft, all at the same position after a prefilled context and rolled back after each pass. The quantities
/// are timed in turn within each round (in a shuffled order), so that machine noise falls on all of them alike. From
/// the medians it projects the speed-up E·t_dense(1) / (γ·t_draft + t_verify(γ + 1)) for acceptance rates or measured
/// average advance lengths, next to the memory roofline of the dense step on the same backend.
/// </summary>
internal static class BenchVerifyCommand
{
    /// <summary>Exit code when the Verify pass disagrees with step-by-step dense decoding (nothing is timed then).</summary>
    public const int CheckFailed = ExitCodes.CheckFailed;

    /// <summary>A 1B-class shape, TinyLlama-1.1B's: the memory-bound regime where verification should be almost free.</summary>
    public const string DefaultPreset = "tinyllama-1.1b";

    private const double MaxRelativeLogitDifference = 1e-3;

    private static IReadOnlyDictionary<string, Func<ModelConfig>> Presets => ModelPresets.ByName;

    private sealed record Settings(
        string Preset, int Layers, DType Weights, ModelLoadOptions Load, int MaxRows, int Context, int Repeats, string Method,
        double Sparsity, string? SparseLayers, int[] Gammas, double[] Acceptances, double[]? Aal, string? Json, string? Plot,
        string[] Notes, string CommandLine);

    public static Command Create()
    {
        var preset = new Option<string>("--preset")
        {
            Description = $"Model shape ({DefaultPreset}: a TinyLlama-1.1B-like 1B-class shape)", DefaultValueFactory = _ => DefaultPreset,
        };
        preset.AcceptOnlyFromAmong([.. Presets.Keys.Order()]);
        var layers = new Option<int>("--layers")
        {
            Description = "Layers to instantiate, at most the preset's (0 = all)", DefaultValueFactory = _ => 0,
        };
        var weights = new Option<string>("--weights") { Description = "f32, f16 or bf16", DefaultValueFactory = _ => "bf16" };
        weights.AcceptOnlyFromAmong(CommandFailures.WeightNames);
        var backend = new BackendArguments();
        var maxRows = new Option<int>("--max-rows")
        {
            Description = $"Largest k of the verify curve k = 1..N, 1 to {DecodeSession.MaxDecodeRows}", DefaultValueFactory = _ => DecodeSession.MaxDecodeRows,
        };
        var context = new Option<int>("--context") { Description = "Positions prefilled before timing; every pass starts there", DefaultValueFactory = _ => 128 };
        var repeats = new Option<int>("--repeats") { Description = "Timed rounds (after one warm-up round)", DefaultValueFactory = _ => 7 };
        var method = new Option<string>("--sparsity-method") { Description = "The draft's FFN sparsity: griffin, cats or teal", DefaultValueFactory = _ => "griffin" };
        method.AcceptOnlyFromAmong([.. FfnMethods.Names.Where(n => n != "none")]);
        var sparsity = new Option<double>("--sparsity") { Description = "Fraction of FFN neurons the draft skips, in [0, 1)", DefaultValueFactory = _ => 0.5 };
        sparsity.Validators.Add(r => { double v = r.GetValueOrDefault<double>(); if (!(v >= 0 && v < 1)) r.AddError("--sparsity must be in [0, 1)"); });
        var sparseLayers = new Option<string?>("--sparse-layers") { Description = "all or first-half (default: first-half for griffin, all otherwise)" };
        sparseLayers.AcceptOnlyFromAmong(SparsityArguments.LayerChoices);
        var gamma = new Option<string>("--gamma")
        {
            Description = $"Draft lengths γ to project, comma-separated, each 1..{DraftVerifyDecoding.MaxDraftLength} (t_verify(γ + 1) is timed too)",
            DefaultValueFactory = _ => "4,8,16",
        };
        var acceptance = new Option<string>("--acceptance")
        {
            Description = "Acceptance rates α in [0, 1] to project with, comma-separated (E = (1 − α^(γ+1)) / (1 − α))",
            DefaultValueFactory = _ => "0.6,0.7,0.8,0.9",
        };
        var aal = new Option<string?>("--aal")
        {
            Description = "Measured average advance lengths (tokens per dense pass), one per --gamma value, comma-separated; projected as E directly",
        };
        var json = new Option<string?>("--json") { Description = "Also write the figures as JSON to this file (written atomically)" };
        var plot = new Option<string?>("--plot") { Description = "Also draw t_verify(k) / t_dense(1) against k to this PNG file" };
        var note = new Option<string[]>("--note") { Description = "A note on the run for the report (e.g. the machine was shared); repeatable" };

        foreach (var (o, min) in new[] { (layers, 0), (context, 1), (repeats, 1) })
            o.Validators.Add(r => { if (r.GetValueOrDefault<int>() < min) r.AddError($"{o.Name} must be >= {min}"); });
        maxRows.Validators.Add(r =>
        {
            int v = r.GetValueOrDefault<int>();
            if (v < 1 || v > DecodeSession.MaxDecodeRows)
                r.AddError($"--max-rows must be in 1..{DecodeSession.MaxDecodeRows} (the decode chunk of the sparse FFN kernel), not {v}");
        });
        gamma.Validators.Add(r =>
        {
            if (ParseInts(r.GetValueOrDefault<string>()) is not { Length: > 0 } g || g.Any(v => v < 1 || v > DraftVerifyDecoding.MaxDraftLength))
                r.AddError($"--gamma must be comma-separated integers in 1..{DraftVerifyDecoding.MaxDraftLength}");
        });
        acceptance.Validators.Add(r =>
        {
            if (ParseDoubles(r.GetValueOrDefault<string>()) is not { Length: > 0 } a || a.Any(v => !(v >= 0 && v <= 1)))
                r.AddError("--acceptance must be comma-separated numbers in [0, 1]");
        });
        aal.Validators.Add(r =>
        {
            if (ParseDoubles(r.GetValueOrDefault<string?>()) is not { Length: > 0 } a || a.Any(v => !(v >= 1)))
                r.AddError("--aal must be comma-separated numbers >= 1 (tokens per dense pass)");
        });
        plot.Validators.Add(r =>
        {
            if (!string.Equals(Path.GetExtension(r.GetValueOrDefault<string?>()), ".png", StringComparison.OrdinalIgnoreCase))
                r.AddError("--plot writes a PNG: give a file name ending in .png");
        });

        var command = new Command("bench-verify",
            "Time a dense Verify pass over k = 1..16 rows against one dense decode step and one sparse draft step, and project the " +
            $"draft-then-verify speed-up from them. By default: a random-weight {DefaultPreset} shape (all 22 layers, 2.2 GB), bf16, " +
            "on the CPU (1 to 2 minutes on 2 cores), 128 prefilled positions, 7 interleaved rounds, a GRIFFIN 50% draft on the first half of the layers, γ = 4, 8, 16.")
        {
            preset, layers, weights, backend.Backend, backend.Device, backend.Threads, maxRows, context, repeats, method, sparsity,
            sparseLayers, gamma, acceptance, aal, json, plot, note,
        };
        command.SetAction((parse, ct) =>
        {
            string name = parse.GetValue(preset)!;
            int presetLayers = Presets[name]().Layers;
            int n = parse.GetValue(layers);
            if (n > presetLayers)
                return Fail($"--layers {n} exceeds {name}'s {presetLayers} layers", ExitCodes.BadArguments);
            int[] gammas = ParseInts(parse.GetValue(gamma))!;
            double[]? aals = ParseDoubles(parse.GetValue(aal));
            if (aals is not null && aals.Length != gammas.Length)
                return Fail($"--aal gives {aals.Length} value(s) for {gammas.Length} --gamma value(s): give one per γ", ExitCodes.BadArguments);
            for (int i = 0; aals is not null && i < aals.Length; i++)
                if (aals[i] > gammas[i] + 1)
                    return Fail($"--aal {aals[i].ToString(CultureInfo.InvariantCulture)} for γ = {gammas[i]}: a round emits at most γ + 1 = {gammas[i] + 1} tokens",
                        ExitCodes.BadArguments);
            var settings = new Settings(name, n == 0 ? presetLayers : n, CommandFailures.ParseWeights(parse.GetValue(weights)!), backend.LoadOptions(parse),
                parse.GetValue(maxRows), parse.GetValue(context), parse.GetValue(repeats), parse.GetValue(method)!, parse.GetValue(sparsity),
                parse.GetValue(sparseLayers), gammas, ParseDoubles(parse.GetValue(acceptance))!, aals, parse.GetValue(json),
                parse.GetValue(plot), parse.GetValue(note) ?? [], CommandLine());
            return Task.FromResult(Run(settings, ct));
        });
        return command;
    }

    /// <summary>Comma-separated integers, or null when empty or any part is not one.</summary>
    private static int[]? ParseInts(string? text) =>
        Split(text) is { } parts && parts.All(p => int.TryParse(p, NumberStyles.Integer, CultureInfo.InvariantCulture, out _))
            ? [.. parts.Select(p => int.Parse(p, NumberStyles.Integer, CultureInfo.InvariantCulture))]
            : null;

    /// <summary>Comma-separated numbers, or null when empty or any part is not one.</summary>
    private static double[]? ParseDoubles(string? text) =>
        Split(text) is { } parts && parts.All(p => double.TryParse(p, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
            ? [.. parts.Select(p => double.Parse(p, NumberStyles.Float, CultureInfo.InvariantCulture))]
            : null;

    private static string[]? Split(string? text) => string.IsNullOrWhiteSpace(text) ? null : text.Split(',', StringSplitOptions.TrimEntries);

    private static int Error(string message, int code)
    {
        Console.Error.WriteLine($"error: {message}");
        return code;
    }

    private static Task<int> Fail(string message, int code) => Task.FromResult(Error(message, code));

    private static int Run(Settings s, CancellationToken ct)
    {
        if (BackendArguments.Unusable(s.Load.Backend, s.Load.Device) is { } unusable)
            return Error(unusable.Message, unusable.ExitCode);
        BackendArguments.NoteIfSimulator(s.Load.Backend, Console.Error);
        int[] verifyRows = [.. Enumerable.Range(1, s.MaxRows).Concat(s.Gammas.Select(g => g + 1)).Distinct().Order()];
        var config = Presets[s.Preset]() with { Layers = s.Layers };
        config = config with { MaxSeqLen = s.Context + verifyRows[^1] + 1 };
        try
        {
            var sparsityOptions = SparsityArguments.Parse(s.Method, s.Sparsity, s.SparseLayers, config.Layers);
            var clock = Stopwatch.StartNew();
            Console.Error.WriteLine(Inv($"building a random-weight {s.Preset} model, {config.Layers} layers, {CommandFailures.WeightsName(s.Weights)} ..."));
            using var loaded = SyntheticModel.Create(config, seed: 1, s.Weights, s.Load with { WeightType = s.Weights }, cancellationToken: ct);
            double buildS = clock.Elapsed.TotalSeconds;
            return Measure(s, loaded, sparsityOptions, verifyRows, buildS, ct);
        }
        catch (Exception ex) when (CommandFailures.Classify(ex, "try fewer --layers or --weights bf16") is { } failure)
        {
            return Error(failure.Message, failure.Code);
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("interrupted");
            return ExitCodes.Cancelled;
        }
    }

    private static int Measure(Settings s, LoadedModel loaded, SparsityOptions sparsityOptions, int[] verifyRows, double buildS, CancellationToken ct)
    {
        var config = loaded.Config;
        var draftPolicy = new FfnPolicy(sparsityOptions);
        using var dense = loaded.Model.CreateSession(FfnPolicy.Dense);
        using var draft = loaded.Model.CreateSession(draftPolicy);

        // Arbitrary but fixed tokens: the context, then the rows every timed pass feeds at position Context.
        int[] context = [.. Enumerable.Range(0, s.Context).Select(i => (i * 7919 + 1) % config.Vocab)];
        int[] rows = [.. Enumerable.Range(0, verifyRows[^1]).Select(i => ((s.Context + i) * 7919 + 1) % config.Vocab)];
        dense.Forward(context, 0, ForwardKind.Prefill, ForwardOutputs.Nothing);
        draft.Forward(context, 0, ForwardKind.Prefill, ForwardOutputs.Nothing); // GRIFFIN selects, CATS/TEAL calibrate, here

        var check = CheckVerifyPass(dense, rows, s.Context);
        Console.Error.WriteLine(Inv($"check: a Verify pass over {check.Rows} rows = {check.Rows} dense steps: argmax ids {(check.ArgmaxEqual ? "equal" : "DIFFER")}, ") +
            Inv($"max |Δlogit| {check.MaxAbsLogitDifference:G3} (max |logit| {check.MaxAbsLogit:G3})"));
        if (!check.ArgmaxEqual || check.MaxAbsLogitDifference > MaxRelativeLogitDifference * Math.Max(1, check.MaxAbsLogit))
        {
            Console.Error.WriteLine("error: the Verify pass disagrees with step-by-step dense decoding; nothing was timed");
            return CheckFailed;
        }

        double copyGBps = CopyBandwidth.Measure(loaded.Context);

        // One list of passes, each restoring the session's length: a round runs every one of them once, in a shuffled order.
        var verifyOutputs = new ForwardOutputs(OutputRows.All, Logits: false, Argmax: true);
        var passes = new List<(string Name, Action Run)>
        {
            ("dense", () => { dense.Forward(rows.AsSpan(0, 1), s.Context, ForwardKind.Decode, ForwardOutputs.LastArgmax); dense.Rollback(s.Context); }),
            ("draft", () => { draft.Forward(rows.AsSpan(0, 1), s.Context, ForwardKind.Decode, ForwardOutputs.LastArgmax); draft.Rollback(s.Context); }),
        };
        foreach (int k in verifyRows)
            passes.Add(($"verify{k}", () => { dense.Forward(rows.AsSpan(0, k), s.Context, ForwardKind.Verify, verifyOutputs); dense.Rollback(s.Context); }));

        var samples = passes.ToDictionary(p => p.Name, _ => new double[s.Repeats]);
        var order = Enumerable.Range(0, passes.Count).ToArray();
        var shuffle = new Random(12345);
        var timer = new Stopwatch();
        for (int round = -1; round < s.Repeats; round++) // round -1: warm-up, not recorded
        {
            ct.ThrowIfCancellationRequested();
            shuffle.Shuffle(order);
            foreach (int i in order)
            {
                timer.Restart();
                passes[i].Run();
                double ms = timer.Elapsed.TotalMilliseconds;
                if (round >= 0)
                    samples[passes[i].Name][round] = ms;
            }
            Console.Error.WriteLine(round < 0 ? "warm-up round done" : Inv($"round {round + 1}/{s.Repeats} done"));
        }

        var report = BuildReport(s, loaded, sparsityOptions, draftPolicy, verifyRows, samples, check, copyGBps);
        Console.Write(Markdown(report, buildS));
        if (s.Json is not null)
            BenchVerifyReport.Write(s.Json, report);
        if (s.Plot is not null)
            DrawPlot(report, s.Plot);
        return ExitCodes.Ok;
    }

    /// <summary>
    /// Before anything is timed: dense single-row steps at positions Context.. against one Verify pass over the same rows.
    /// A pass that computed something else would make its timing meaningless.
    /// </summary>
    private static BenchVerifyCheck CheckVerifyPass(DecodeSession dense, int[] rows, int position)
    {
        int k = rows.Length, vocab = dense.Config.Vocab;
        var stepLogits = new float[k * vocab];
        var stepIds = new int[k];
        var both = new ForwardOutputs(OutputRows.All, Logits: true, Argmax: true);
        for (int i = 0; i < k; i++)
        {
            var step = dense.Forward(rows.AsSpan(i, 1), position + i, ForwardKind.Decode, both);
            step.Logits(0).CopyTo(stepLogits.AsSpan(i * vocab, vocab));
            stepIds[i] = step.Argmax(0);
        }
        dense.Rollback(position);
        var pass = dense.Forward(rows, position, ForwardKind.Verify, both);
        dense.Rollback(position);

        bool equal = true;
        double maxDiff = 0, maxAbs = 0;
        var passLogits = pass.AllLogits;
        for (int i = 0; i < k; i++)
            equal &= pass.Argmax(i) == stepIds[i];
        for (int j = 0; j < stepLogits.Length; j++)
        {
            maxDiff = Math.Max(maxDiff, Math.Abs(stepLogits[j] - passLogits[j]));
            maxAbs = Math.Max(maxAbs, Math.Abs(stepLogits[j]));
        }
        // NaN logits compare false everywhere above: count them as a failure.
        if (stepLogits.Any(float.IsNaN) || passLogits.ToArray().Any(float.IsNaN))
            maxDiff = double.PositiveInfinity;
        return new BenchVerifyCheck(k, equal, maxDiff, maxAbs);
    }

    private static BenchVerifyReport BuildReport(Settings s, LoadedModel loaded, SparsityOptions sparsityOptions, FfnPolicy draftPolicy,
        int[] verifyRows, Dictionary<string, double[]> samples, BenchVerifyCheck check, double copyGBps)
    {
        var config = loaded.Config;
        double[] denseMs = samples["dense"];
        var denseTime = Summarise(denseMs);
        var draftTime = Summarise(samples["draft"]);
        var verify = verifyRows.Select(k =>
        {
            double[] ms = samples[$"verify{k}"];
            double[] ratios = [.. ms.Select((v, r) => v / denseMs[r])];
            double ratio = Quantile(ratios, 0.5);
            return new BenchVerifyRows(k, Summarise(ms), ratio, Quantile(ratios, 0.25), Quantile(ratios, 0.75), ratio / k);
        }).ToList();

        double denseBytes = WeightTraffic.DenseStepBytes(config, s.Weights);
        double draftBytes = WeightTraffic.SparseStepBytes(config, s.Weights, sparsityOptions, adapterRank: 0);
        double denseRoofMs = denseBytes / (copyGBps * 1e6);
        var roofline = new BenchVerifyRoofline(copyGBps, denseRoofMs, draftBytes / (copyGBps * 1e6), 100 * denseRoofMs / denseTime.MedianMs,
            denseBytes / (denseTime.MedianMs * 1e6));

        var projections = new List<BenchVerifyProjection>();
        double tDense = denseTime.MedianMs, tDraft = draftTime.MedianMs;
        for (int g = 0; g < s.Gammas.Length; g++)
        {
            int gamma = s.Gammas[g];
            double tVerify = verify.Single(v => v.Rows == gamma + 1).Time.MedianMs;
            BenchVerifyProjection Project(string source, double? alpha, double e) => new(gamma, source, alpha, e,
                DraftVerifyCost.RoundTime(gamma, tDraft, tVerify), DraftVerifyCost.SpeedUp(e, gamma, tDense, tDraft, tVerify),
                DraftVerifyCost.SpeedUp(e, gamma, tDense, tDraft, tDense), DraftVerifyCost.BreakEvenDraftStep(e, gamma, tDense, tVerify) / tDense);
            if (s.Aal is not null)
                projections.Add(Project("aal", null, s.Aal[g]));
            foreach (double alpha in s.Acceptances)
                projections.Add(Project("acceptance", alpha, DraftVerifyCost.TokensPerRound(alpha, gamma)));
        }

        bool cpu = loaded.Backend == BackendKind.Cpu;
        var notes = new List<string>(s.Notes)
        {
            "random weights: the times depend on the shape and dtype only; the acceptance rates and AALs are inputs, not measured on this model",
        };
        if (config.Layers < Presets[s.Preset]().Layers)
            notes.Add(Inv($"{config.Layers} of the preset's {Presets[s.Preset]().Layers} layers: every step and pass is shorter alike, the classifier weighs more"));
        if (cpu)
            notes.Add("cpu: a host memcpy also pays write-allocate traffic, so the copy roofline understates the read bandwidth");
        if (loaded.Backend.IsSimulator())
            notes.Add("cuda-sim: CUDA kernels simulated on the CPU; these times say nothing about a GPU");

        DeviceInfo? gpu = loaded.Backend.UsesDeviceMemory() ? CapreseLibrary.GetDeviceInfo(loaded.Backend, s.Load.Device) : null;
        return new BenchVerifyReport
        {
            Preset = s.Preset, Layers = config.Layers, PresetLayers = Presets[s.Preset]().Layers, Dim = config.Dim,
            HiddenDim = config.HiddenDim, Vocab = config.Vocab, Weights = CommandFailures.WeightsName(s.Weights), Backend = BackendArguments.Name(loaded.Backend),
            Device = gpu?.Name ?? RunEnvironment.CpuName(), Machine = Environment.MachineName,
            Threads = cpu ? (s.Load.NumThreads > 0 ? s.Load.NumThreads : Environment.ProcessorCount) : 0,
            LogicalProcessors = Environment.ProcessorCount, Commit = SourceRevision.Commit(), CapreseVersion = CapreseLibrary.Version,
            TimestampUtc = DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture),
            Context = s.Context, Repeats = s.Repeats, MaxRows = s.MaxRows, DraftPolicy = draftPolicy.Describe(config.Layers),
            DenseStepWeightBytes = denseBytes, DraftStepWeightBytes = draftBytes, Check = check,
            DenseStep = denseTime, DraftStep = draftTime, Verify = verify, Roofline = roofline, Projections = projections, Notes = notes,
        };
    }

    private static string Markdown(BenchVerifyReport r, double buildS)
    {
        var md = new StringBuilder();
        void Line(FormattableString text) => md.Append(Inv(text)).Append('\n');
        double dense = r.DenseStep.MedianMs;
        Line($"## Verify cost: {r.Preset}, {r.Layers} of {r.PresetLayers} layers (D {r.Dim}, H {r.HiddenDim}, vocab {r.Vocab}), {r.Weights}, {r.Backend} on {r.Device}");
        Line($"");
        Line($"- command: `{CommandLine()}`");
        Line($"- commit {r.Commit}, caprese {r.CapreseVersion}, {r.TimestampUtc}; machine {r.Machine}, {r.LogicalProcessors} logical processors, {(r.Threads > 0 ? Inv($"{r.Threads} threads") : "GPU")}");
        Line($"- {r.Repeats} timed rounds after a warm-up, every pass at position {r.Context} and rolled back; draft {r.DraftPolicy}; model built in {buildS:F1} s");
        Line($"- check: one Verify pass over {r.Check.Rows} rows = {r.Check.Rows} dense steps (argmax equal, max |Δlogit| {r.Check.MaxAbsLogitDifference:G3} of max |logit| {r.Check.MaxAbsLogit:G3})");
        foreach (string note in r.Notes)
            Line($"- note: {note}");
        Line($"");
        Line($"| step | median ms | p25–p75 ms | min–max ms | / dense step |");
        Line($"|---|---:|---:|---:|---:|");
        Line($"| dense decode step, 1 row | {Ms(dense)} | {Ms(r.DenseStep.P25Ms)}–{Ms(r.DenseStep.P75Ms)} | {Ms(r.DenseStep.MinMs)}–{Ms(r.DenseStep.MaxMs)} | 1.000 |");
        Line($"| draft step ({r.DraftPolicy}), 1 row | {Ms(r.DraftStep.MedianMs)} | {Ms(r.DraftStep.P25Ms)}–{Ms(r.DraftStep.P75Ms)} | {Ms(r.DraftStep.MinMs)}–{Ms(r.DraftStep.MaxMs)} | {r.DraftStep.MedianMs / dense:F3} |");
        Line($"| roofline: dense step {r.DenseStepWeightBytes / 1e9:F3} GB at {r.Roofline.CopyGBPerSecond:F1} GB/s copy | {Ms(r.Roofline.DenseStepMs)} | | | {r.Roofline.DenseStepMs / dense:F3} |");
        Line($"| roofline: draft step {r.DraftStepWeightBytes / 1e9:F3} GB | {Ms(r.Roofline.DraftStepMs)} | | | {r.Roofline.DraftStepMs / dense:F3} |");
        Line($"");
        Line($"Dense step: {r.Roofline.DenseStepAchievedGBPerSecond:F1} GB/s of weights, {r.Roofline.DenseStepPercentOfRoofline:F0}% of the copy roofline.");
        Line($"");
        Line($"| k rows | verify median ms | p25–p75 ms | t_verify(k) / t_dense(1) | p25–p75 | per row |");
        Line($"|---:|---:|---:|---:|---:|---:|");
        foreach (var v in r.Verify)
            Line($"| {v.Rows} | {Ms(v.Time.MedianMs)} | {Ms(v.Time.P25Ms)}–{Ms(v.Time.P75Ms)} | {v.Ratio:F3} | {v.RatioP25:F3}–{v.RatioP75:F3} | {v.RatioPerRow:F3} |");
        Line($"");
        Line($"Projected speed-up over dense decoding, E·t_dense(1) / (γ·t_draft + t_verify(γ+1)); next, the same if t_verify(γ+1) were one dense step; last, the draft step time (in dense steps) below which the measured verification pays, (E − t_verify(γ+1)/t_dense(1)) / γ:");
        Line($"");
        Line($"| γ | E from | E tokens/round | round ms | speed-up | if verify = 1 step | pays with t_draft/t_dense below |");
        Line($"|---:|---|---:|---:|---:|---:|---:|");
        foreach (var p in r.Projections)
            Line($"| {p.Gamma} | {(p.Source == "aal" ? "measured AAL" : Inv($"α = {p.Acceptance:0.###}"))} | {p.TokensPerRound:F2} | {Ms(p.RoundMs)} | {p.SpeedUp:F2}× | {p.SpeedUpIfVerifyFlat:F2}× | {(p.BreakEvenDraftRatio > 0 ? Inv($"{p.BreakEvenDraftRatio:F3}") : "never")} |");
        return md.ToString();
    }

    // Milliseconds with about three significant digits, so that a tiny model's microseconds still show.
    private static string Ms(double ms) => ms.ToString(ms >= 100 ? "F1" : ms >= 1 ? "F2" : "G3", CultureInfo.InvariantCulture);

    private static void DrawPlot(BenchVerifyReport r, string path)
    {
        double[] ks = [.. r.Verify.Select(v => (double)v.Rows)];
        // What on the first line, where and which commit on the second.
        string title = Inv($"t_verify(k) / t_dense(1): {r.Preset}, {r.Layers}/{r.PresetLayers} layers, {r.Weights}, random weights, context {r.Context}\n") +
            Inv($"{r.Backend} {r.Device}{(r.Threads > 0 ? Inv($" ({r.Threads} threads)") : "")} on {r.Machine}, commit {r.Commit}, {r.TimestampUtc[..10]}");
        var plot = new LinePlot(title, "k rows in one dense Verify pass", "time / one dense decode step") { YFromZero = true };
        plot.Add("measured (median of per-round ratios)", ks, [.. r.Verify.Select(v => v.Ratio)]);
        plot.Add("memory-bound ideal: 1", ks, [.. ks.Select(_ => 1.0)], markers: false, dashed: true);
        plot.Add("compute-bound: k", ks, ks, markers: false, dashed: true);
        plot.Add(Inv($"draft step ({r.DraftPolicy})"), ks, [.. ks.Select(_ => r.DraftStep.MedianMs / r.DenseStep.MedianMs)], markers: false, dashed: true);
        plot.SavePng(path, 1000, 620);
    }

    private static BenchVerifyTiming Summarise(double[] ms) =>
        new(Quantile(ms, 0.5), Quantile(ms, 0.25), Quantile(ms, 0.75), ms.Min(), ms.Max(), ms.Length);

    private static double Quantile(double[] values, double q) => SampleStatistics.Quantile(values, q);

    private static string CommandLine() =>
        "caprese " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1).Select(a => a.Contains(' ') ? $"\"{a}\"" : a));

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
