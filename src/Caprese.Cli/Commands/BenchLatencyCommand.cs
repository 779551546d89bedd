using Caprese.Models.Formats;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Caprese.Interop;
using Caprese.Models;
using Caprese.Models.Adapters;
using Caprese.Models.Decoding;
using Caprese.Models.Sessions;
using Caprese.Models.Sparsity;
using Caprese.Models.Transformer;
using Caprese.Plotting;

namespace Caprese.Cli.Commands;

/// <summary>
/// `caprese bench-latency`: the Caprese paper's end-to-end latency table (time to next token of dense, GRIFFIN, GRIFFIN +
/// unmerged LoRA and merged Caprese decoding, here with CATS and Caprese on CATS, speculative decoding and Sirius too) on
/// a synthetic (seeded random) model of a preset shape. One decode session per row, each prefilled with the same prompt;
/// every round times each row's greedy decode steps from the end of the prompt (rolled back after), in a shuffled order,
/// together with the draft-then-verify methods' verification passes and a copy-bandwidth sample, so that machine noise
/// falls on every quantity alike. Each row's measured ratio to dense is printed next to its byte-ideal ratio (weight
/// bytes read per token over dense's, <see cref="WeightTraffic"/>) and the memory roofline of the same rounds.
/// </summary>
internal static class BenchLatencyCommand
{
    /// <summary>A 1B-class shape with all its layers: memory-bound decode on any machine.</summary>
    public const string DefaultPreset = "tinyllama-1.1b";

    /// <summary>The issue's goal for every row: the measured ratio to dense within this many percent of the byte ideal.</summary>
    public const double IdealTolerancePercent = 5;

    /// <summary>The issue's goal for merged adapters: at most this many percent slower than the same sparsity alone.</summary>
    public const double MergedTolerancePercent = 3;

    // Average advance lengths measured with a Caprese (GRIFFIN 50% first half, merged) draft on stories260K at γ = 8 and
    // Sirius kernel 16 (bench/results/decoding-stories260K-2026-12-07.md): the defaults for the projected rows.
    private const double DefaultSpeculativeAal = 4.0;
    private const double DefaultSiriusAal = 7.2;

    private const double MaxRelativeLogitDifference = 1e-3;

    private static IReadOnlyDictionary<string, Func<ModelConfig>> Presets => ModelPresets.ByName;

    private static readonly string[] GriffinPaths = ["auto", "gather", "compact"];

    private sealed record Settings(
        string Preset, int Layers, DType Weights, ModelLoadOptions Load, int Context, int Tokens, int Rounds, double Sparsity,
        int Rank, GriffinPath GriffinPath, GriffinPath? ExtraGriffinPath, int Gamma, int KernelSize, double SpeculativeAal, double SiriusAal, string? Json,
        string? Markdown, string? Plot, string[] Notes, string CommandLine);

    /// <summary>A row timed from its own session's greedy decode steps.</summary>
    private sealed record MeasuredRow(string Key, string Label, FfnPolicy Policy, string? SparseBaseline);

    /// <summary>A draft-then-verify row: its draft is a measured row, its verification a timed dense pass.</summary>
    private sealed record ProjectedRow(string Key, string Method, string DraftRow, int DraftLength, double TokensPerRound, string Source,
        bool VerifyLogits);

    public static Command Create()
    {
        var preset = new Option<string>("--preset")
        {
            Description = $"Model shape ({DefaultPreset}: a TinyLlama-1.1B-like 1B-class shape)", DefaultValueFactory = _ => DefaultPreset,
        };
        preset.AcceptOnlyFromAmong([.. Presets.Keys.Order()]);
        var layers = new Option<int>("--layers")
        {
            Description = "Layers to instantiate, at most the preset's (0 = all), e.g. --preset llama-3.1-8b --layers 8", DefaultValueFactory = _ => 0,
        };
        var weights = new Option<string>("--weights") { Description = "f32, f16 or bf16", DefaultValueFactory = _ => "bf16" };
        weights.AcceptOnlyFromAmong(CommandFailures.WeightNames);
        var backend = new BackendArguments();
        var context = new Option<int>("--context") { Description = "Prompt positions prefilled in every session", DefaultValueFactory = _ => 128 };
        var tokens = new Option<int>("--tokens") { Description = "Greedy decode steps timed per row and round", DefaultValueFactory = _ => 8 };
        var rounds = new Option<int>("--rounds") { Description = "Timed rounds (after one warm-up round)", DefaultValueFactory = _ => 10 };
        var sparsity = new Option<double>("--sparsity")
        {
            Description = "Fraction of FFN neurons GRIFFIN and CATS skip, in (0, 1)", DefaultValueFactory = _ => 0.5,
        };
        sparsity.Validators.Add(r =>
        {
            double v = r.GetValueOrDefault<double>();
            if (!(v > 0 && v < 1))
                r.AddError("--sparsity must be in (0, 1)");
        });
        var rank = new Option<int>("--rank") { Description = "Rank of the random adapters (1 to the model dimension)", DefaultValueFactory = _ => 16 };
        var griffinPath = new Option<string>("--griffin-path")
        {
            Description = "How GRIFFIN's selection reaches the kernel: auto (compact), gather or compact",
            DefaultValueFactory = _ => "auto",
        };
        griffinPath.AcceptOnlyFromAmong(GriffinPaths);
        var extraGriffinPath = new Option<string?>("--extra-griffin-path")
        {
            Description = "Also time plain GRIFFIN through this path (gather or compact) as a diagnostic row, e.g. to see whether the " +
                "gap to the byte ideal is the gather's",
        };
        extraGriffinPath.AcceptOnlyFromAmong(["gather", "compact"]);
        var gamma = new Option<int>("--gamma")
        {
            Description = $"Speculative decoding: drafts per verification pass, 1..{DraftVerifyDecoding.MaxDraftLength}", DefaultValueFactory = _ => 8,
        };
        var kernelSize = new Option<int>("--kernel-size")
        {
            Description = $"Sirius: drafts per correction pass, 1..{DraftVerifyDecoding.MaxDraftLength}", DefaultValueFactory = _ => 16,
        };
        var specAal = new Option<double>("--speculative-aal")
        {
            Description = "Speculative decoding: tokens emitted per verification pass assumed for the projection, in [1, γ + 1] " +
                $"(default {DefaultSpeculativeAal.ToString(CultureInfo.InvariantCulture)}, measured with a Caprese draft on stories260K)",
            DefaultValueFactory = _ => DefaultSpeculativeAal,
        };
        var siriusAal = new Option<double>("--sirius-aal")
        {
            Description = "Sirius: tokens emitted per correction pass assumed for the projection, in [1, kernel size + 1] " +
                $"(default {DefaultSiriusAal.ToString(CultureInfo.InvariantCulture)}, measured with a Caprese draft on stories260K)",
            DefaultValueFactory = _ => DefaultSiriusAal,
        };
        var json = new Option<string?>("--json") { Description = "Also write the figures as JSON to this file (written atomically)" };
        var markdown = new Option<string?>("--markdown") { Description = "Also write the printed report to this file (written atomically)" };
        var plot = new Option<string?>("--plot") { Description = "Also draw measured against byte-ideal ratios to this PNG file" };
        var note = new Option<string[]>("--note") { Description = "A note on the run for the report (e.g. the machine was shared); repeatable" };

        foreach (var (o, min) in new[] { (layers, 0), (context, 1), (tokens, 1), (rounds, 1), (rank, 1) })
            o.Validators.Add(r => { if (r.GetValueOrDefault<int>() < min) r.AddError($"{o.Name} must be >= {min}"); });
        foreach (var o in new[] { gamma, kernelSize })
            o.Validators.Add(r =>
            {
                int v = r.GetValueOrDefault<int>();
                if (v < 1 || v > DraftVerifyDecoding.MaxDraftLength)
                    r.AddError($"{o.Name} must be in 1..{DraftVerifyDecoding.MaxDraftLength}, not {v}");
            });
        plot.Validators.Add(r =>
        {
            if (!string.Equals(Path.GetExtension(r.GetValueOrDefault<string?>()), ".png", StringComparison.OrdinalIgnoreCase))
                r.AddError("--plot writes a PNG: give a file name ending in .png");
        });

        var command = new Command("bench-latency",
            "Time to next token of the Caprese paper's latency rows, side by side in one run: dense, GRIFFIN 50% on the first half " +
            "of the layers, GRIFFIN + an unmerged random adapter, merged Caprese, CATS 50%, Caprese on CATS, and speculative and " +
            "Sirius decoding projected from measured draft-step and verification costs at a stated AAL; each ratio to dense next to " +
            $"its byte-ideal ratio (weight bytes per token). By default: a random-weight {DefaultPreset} shape (all 22 layers), bf16, " +
            "on the CPU, 128 prompt positions, 8 greedy tokens per row and round, 10 shuffled rounds after a warm-up.")
        {
            preset, layers, weights, backend.Backend, backend.Device, backend.Threads, context, tokens, rounds, sparsity, rank,
            griffinPath, extraGriffinPath, gamma, kernelSize, specAal, siriusAal, json, markdown, plot, note,
        };
        command.SetAction((parse, ct) =>
        {
            string name = parse.GetValue(preset)!;
            var shape = Presets[name]();
            int n = parse.GetValue(layers);
            if (n > shape.Layers)
                return Fail($"--layers {n} exceeds {name}'s {shape.Layers} layers", ExitCodes.BadArguments);
            int r = parse.GetValue(rank);
            if (r > shape.Dim)
                return Fail($"--rank {r} exceeds {name}'s model dimension {shape.Dim}", ExitCodes.BadArguments);
            int g = parse.GetValue(gamma), k = parse.GetValue(kernelSize);
            double spec = parse.GetValue(specAal), sirius = parse.GetValue(siriusAal);
            if (!(spec >= 1 && spec <= g + 1))
                return Fail($"--speculative-aal {Inv($"{spec}")}: a round of γ = {g} drafts emits between 1 and {g + 1} tokens", ExitCodes.BadArguments);
            if (!(sirius >= 1 && sirius <= k + 1))
                return Fail($"--sirius-aal {Inv($"{sirius}")}: a round of kernel size {k} emits between 1 and {k + 1} tokens", ExitCodes.BadArguments);
            var settings = new Settings(name, n == 0 ? shape.Layers : n, CommandFailures.ParseWeights(parse.GetValue(weights)!), backend.LoadOptions(parse),
                parse.GetValue(context), parse.GetValue(tokens), parse.GetValue(rounds), parse.GetValue(sparsity), r,
                Enum.Parse<GriffinPath>(parse.GetValue(griffinPath)!, ignoreCase: true),
                parse.GetValue(extraGriffinPath) is { } extra ? Enum.Parse<GriffinPath>(extra, ignoreCase: true) : null, g, k, spec, sirius, parse.GetValue(json),
                parse.GetValue(markdown), parse.GetValue(plot), parse.GetValue(note) ?? [], CommandLine());
            return Task.FromResult(Run(settings, ct));
        });
        return command;
    }

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
        double[]? loadBefore = RunEnvironment.LoadAverage();
        var config = Presets[s.Preset]() with { Layers = s.Layers };
        // Room for the prompt, the timed steps and the longest verification pass after it.
        config = config with { MaxSeqLen = s.Context + Math.Max(s.Tokens, Math.Max(s.Gamma, s.KernelSize) + 1) + 1 };
        try
        {
            var clock = Stopwatch.StartNew();
            Console.Error.WriteLine(Inv($"building a random-weight {s.Preset} model, {config.Layers} layers, {CommandFailures.WeightsName(s.Weights)} ..."));
            using var loaded = SyntheticModel.Create(config, seed: 1, s.Weights, s.Load with { WeightType = s.Weights }, cancellationToken: ct);
            Console.Error.WriteLine(Inv($"built in {clock.Elapsed.TotalSeconds:F1} s"));
            return Measure(s, loaded, loadBefore, ct);
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

    /// <summary>The rows of the paper's table, in the order they are printed; the sparse FFN rows share one sparsity level.</summary>
    private static (List<MeasuredRow> Measured, List<ProjectedRow> Projected) DefineRows(Settings s, ModelConfig config)
    {
        var griffin = SparsityOptions.FirstHalf(SparsityMethod.Griffin, s.Sparsity, config.Layers) with { GriffinPath = s.GriffinPath };
        string path = PathName(s.GriffinPath);
        var cats = SparsityOptions.Default(SparsityMethod.Cats, s.Sparsity, config.Layers);
        var griffinAdapters = RandomAdapters(config, griffin, s.Rank, seed: 11);
        var catsAdapters = RandomAdapters(config, cats, s.Rank, seed: 12);
        string pct = Inv($"{s.Sparsity * 100:0.#}%");
        var (gFirst, gEnd) = griffin.LayerRange(config.Layers);
        string gLayers = Inv($"layers {gFirst}-{gEnd - 1}");
        var measured = new List<MeasuredRow>
        {
            new("dense", "dense", FfnPolicy.Dense, null),
            new("griffin", $"GRIFFIN {pct}, {gLayers} ({path})", new FfnPolicy(griffin), null),
            new("griffin-unmerged", Inv($"GRIFFIN {pct} + unmerged adapter r{s.Rank}"), new FfnPolicy(griffin, griffinAdapters, AdapterForm.Unmerged), "griffin"),
            new("caprese-griffin", Inv($"Caprese (GRIFFIN {pct}, merged r{s.Rank})"), new FfnPolicy(griffin, griffinAdapters, AdapterForm.Merged), "griffin"),
            new("cats", $"CATS {pct}, all layers", new FfnPolicy(cats), null),
            new("caprese-cats", Inv($"Caprese (CATS {pct}, merged r{s.Rank})"), new FfnPolicy(cats, catsAdapters, AdapterForm.Merged), "cats"),
        };
        if (s.ExtraGriffinPath is { } extra && PathName(extra) != path)
            measured.Insert(2, new("griffin-" + PathName(extra), $"GRIFFIN {pct}, {gLayers} ({PathName(extra)}, diagnostic)",
                new FfnPolicy(griffin with { GriffinPath = extra }), null));
        // Greedy Sirius needs every row's logits on the host (its test is a probability); speculative only the argmax ids.
        var projected = new List<ProjectedRow>
        {
            new("speculative", "speculative", "caprese-griffin", s.Gamma, s.SpeculativeAal, "--speculative-aal", VerifyLogits: false),
            new("sirius", "sirius", "caprese-griffin", s.KernelSize, s.SiriusAal, "--sirius-aal", VerifyLogits: true),
        };
        return (measured, projected);
    }

    /// <summary>The path GRIFFIN takes on <paramref name="backend"/>: auto is gather on the CPU, compact on device memory (SparseFfnLayer's rule).</summary>
    private static string PathName(GriffinPath path) => path.Resolved().ToString().ToLowerInvariant();

    /// <summary>Adapters with random L and R (R ≠ 0, so that the branch changes the output): their cost is what is measured.</summary>
    private static AdapterSet RandomAdapters(ModelConfig config, SparsityOptions sparsity, int rank, int seed)
    {
        var set = AdapterSet.CreateInitial(config, sparsity, rank, seed);
        var rng = new Random(seed + 1000);
        float scale = 0.1f / MathF.Sqrt(rank);
        foreach (var a in set.Adapters)
            for (int i = 0; i < a.R.Length; i++)
                a.R[i] = scale * (float)(2 * rng.NextDouble() - 1);
        return set;
    }

    private static int Measure(Settings s, LoadedModel loaded, double[]? loadBefore, CancellationToken ct)
    {
        var config = loaded.Config;
        var (rowsMeasured, rowsProjected) = DefineRows(s, config);
        var sessions = new Dictionary<string, DecodeSession>();
        try
        {
            foreach (var row in rowsMeasured)
                sessions[row.Key] = loaded.Model.CreateSession(row.Policy);

            // The same prompt in every session: GRIFFIN selects and CATS calibrates τ from its dense prefill.
            int[] prompt = [.. Enumerable.Range(0, s.Context).Select(i => (i * 7919 + 1) % config.Vocab)];
            int first = 0;
            foreach (var row in rowsMeasured)
            {
                var r = sessions[row.Key].Forward(prompt, 0, ForwardKind.Prefill, ForwardOutputs.LastArgmax);
                if (row.Key == "dense")
                    first = r.Argmax(0);
            }
            Console.Error.WriteLine(Inv($"prefilled {s.Context} positions in {rowsMeasured.Count} sessions"));

            var checks = Check(s, config, rowsMeasured, sessions, first);
            foreach (var c in checks)
                Console.Error.WriteLine($"check: {c.Name}: {(c.Passed ? "ok" : "FAILED")} ({c.Detail})");
            if (checks.Any(c => !c.Passed))
            {
                Console.Error.WriteLine("error: a check failed; nothing was timed");
                return ExitCodes.CheckFailed;
            }

            using var copy = new CopyBandwidth(loaded.Context);
            int[] verifyTokens = [.. Enumerable.Range(0, DraftVerifyDecoding.MaxDraftLength + 1).Select(i => (first + i * 7919) % config.Vocab)];
            var dense = sessions["dense"];

            // One list of passes, each leaving its session at the prompt's end: a round runs each once, in a shuffled order.
            var passes = new List<(string Name, Func<double> Run)>();
            foreach (var row in rowsMeasured)
            {
                var session = sessions[row.Key];
                passes.Add((row.Key, () => TimeGreedySteps(session, first, s.Context, s.Tokens)));
            }
            foreach (var p in rowsProjected)
            {
                var outputs = new ForwardOutputs(OutputRows.All, Logits: p.VerifyLogits, Argmax: true);
                int rows = p.DraftLength + 1;
                passes.Add(("verify:" + p.Key, () =>
                {
                    var timer = Stopwatch.StartNew();
                    dense.Forward(verifyTokens.AsSpan(0, rows), s.Context, ForwardKind.Verify, outputs);
                    double ms = timer.Elapsed.TotalMilliseconds;
                    dense.Rollback(s.Context);
                    return ms;
                }));
            }
            passes.Add(("copy", () => copy.Sample(repeats: 3)));

            var samples = passes.ToDictionary(p => p.Name, _ => new double[s.Rounds]);
            var order = Enumerable.Range(0, passes.Count).ToArray();
            var shuffle = new Random(12345);
            var wall = Stopwatch.StartNew();
            for (int round = -1; round < s.Rounds; round++) // round -1: warm-up, not recorded
            {
                ct.ThrowIfCancellationRequested();
                shuffle.Shuffle(order);
                foreach (int i in order)
                {
                    double value = passes[i].Run();
                    if (round >= 0)
                        samples[passes[i].Name][round] = value;
                }
                Console.Error.WriteLine(round < 0
                    ? Inv($"warm-up round done ({wall.Elapsed.TotalSeconds:F1} s)")
                    : Inv($"round {round + 1}/{s.Rounds} done ({wall.Elapsed.TotalSeconds:F1} s)"));
            }

            var report = BuildReport(s, loaded, rowsMeasured, rowsProjected, samples, checks, loadBefore);
            string md = Markdown(report);
            Console.Write(md);
            if (s.Json is not null)
                BenchLatencyReport.Write(s.Json, report);
            if (s.Markdown is not null)
                AtomicFile.WriteAllText(s.Markdown, md);
            if (s.Plot is not null)
                DrawPlot(report, s.Plot);
            return ExitCodes.Ok;
        }
        finally
        {
            foreach (var session in sessions.Values)
                session.Dispose();
        }
    }

    /// <summary>Milliseconds per token of <paramref name="steps"/> greedy decode steps from <paramref name="position"/>, rolled back after.</summary>
    private static double TimeGreedySteps(DecodeSession session, int firstToken, int position, int steps)
    {
        int token = firstToken;
        var timer = Stopwatch.StartNew();
        for (int i = 0; i < steps; i++)
            token = session.Forward([token], position + i, ForwardKind.Decode, ForwardOutputs.LastArgmax).Argmax(0);
        double ms = timer.Elapsed.TotalMilliseconds;
        session.Rollback(position);
        return ms / steps;
    }

    /// <summary>
    /// Before anything is timed: that each row runs what its label says. GRIFFIN kept the intended number of neurons,
    /// CATS calibrated a threshold in every layer, and each adapter row's output differs from its sparse row's (the branch
    /// runs) while merged and unmerged forms agree (the merge is exact up to rounding).
    /// </summary>
    private static List<BenchLatencyCheck> Check(Settings s, ModelConfig config, List<MeasuredRow> rows, Dictionary<string, DecodeSession> sessions, int first)
    {
        var checks = new List<BenchLatencyCheck>();
        int kept = GriffinSelector.KeptCount(config.HiddenDim, s.Sparsity);
        var griffin = sessions["griffin"].SparseDecoder!;
        var (gFirst, gEnd) = griffin.Options.LayerRange(config.Layers);
        var counts = Enumerable.Range(gFirst, gEnd - gFirst).Select(l => griffin.SelectedNeurons(l)?.Length ?? 0).ToArray();
        checks.Add(new("GRIFFIN selection", counts.All(c => c == kept),
            Inv($"{kept} of {config.HiddenDim} neurons kept in each of layers {gFirst}-{gEnd - 1}; found {string.Join(",", counts.Distinct())}")));

        var cats = sessions["cats"].SparseDecoder!;
        var taus = Enumerable.Range(0, config.Layers).Select(cats.Threshold).ToArray();
        checks.Add(new("CATS thresholds", taus.All(t => t > 0 && float.IsFinite(t)),
            Inv($"τ from the prompt's prefill, {taus.Min():G3} to {taus.Max():G3} over {config.Layers} layers")));

        var logits = new Dictionary<string, float[]>();
        foreach (var row in rows.Where(r => r.Key != "dense"))
        {
            var session = sessions[row.Key];
            logits[row.Key] = session.Forward([first], s.Context, ForwardKind.Decode, ForwardOutputs.LastLogits).Logits(0).ToArray();
            session.Rollback(s.Context);
        }
        var (diff, scale) = Difference(logits["griffin-unmerged"], logits["caprese-griffin"]);
        checks.Add(new("merged = unmerged adapter (GRIFFIN)", diff <= MaxRelativeLogitDifference * Math.Max(1, scale),
            Inv($"max |Δlogit| {diff:G3} of max |logit| {scale:G3}")));
        foreach (var row in rows.Where(r => r.SparseBaseline is not null))
        {
            var (d, m) = Difference(logits[row.Key], logits[row.SparseBaseline!]);
            checks.Add(new($"{row.Key} adapter changes the output", d > 1e-4 * Math.Max(1, m), Inv($"max |Δlogit| {d:G3} against {row.SparseBaseline}")));
        }
        return checks;
    }

    // Max |a − b| (∞ when either holds a NaN) and max |a|.
    private static (double Diff, double Scale) Difference(float[] a, float[] b)
    {
        double diff = 0, scale = 0;
        for (int i = 0; i < a.Length; i++)
        {
            if (float.IsNaN(a[i]) || float.IsNaN(b[i]))
                return (double.PositiveInfinity, scale);
            diff = Math.Max(diff, Math.Abs(a[i] - b[i]));
            scale = Math.Max(scale, Math.Abs(a[i]));
        }
        return (diff, scale);
    }

    private static BenchLatencyReport BuildReport(Settings s, LoadedModel loaded, List<MeasuredRow> measured, List<ProjectedRow> projected,
        Dictionary<string, double[]> samples, List<BenchLatencyCheck> checks, double[]? loadBefore)
    {
        var config = loaded.Config;
        long denseBytes = WeightTraffic.DenseStepBytes(config, s.Weights);
        var copy = Summarise(samples["copy"]);
        double[] denseMs = samples["dense"];
        var stepBytes = measured.ToDictionary(r => r.Key,
            r => WeightTraffic.SparseStepBytes(config, s.Weights, r.Policy.Sparsity, r.Policy.Adapters?.Rank ?? 0));

        BenchLatencyRow Row(string key, string label, string kind, double bytes, double[] ms, string? baseline, bool merged, BenchLatencyProjection? projection)
        {
            var time = Summarise(ms);
            double[] ratios = [.. ms.Select((v, r) => v / denseMs[r])];
            double ratio = SampleStatistics.Quantile(ratios, 0.5);
            double ideal = bytes / denseBytes;
            double gap = 100 * (ratio / ideal - 1);
            double? over = baseline is null ? null : SampleStatistics.Quantile([.. ms.Select((v, r) => 100 * (v / samples[baseline][r] - 1))], 0.5);
            return new BenchLatencyRow(key, label, kind, bytes, time, ms, ratio, SampleStatistics.Quantile(ratios, 0.25), SampleStatistics.Quantile(ratios, 0.75),
                ideal, gap, bytes / (time.Median * 1e6), 100 * (bytes / (copy.Median * 1e6)) / time.Median,
                key == "dense" ? null : Math.Abs(gap) <= IdealTolerancePercent, baseline, over,
                merged && over is { } o ? o <= MergedTolerancePercent : null, projection);
        }

        var rows = new List<BenchLatencyRow>();
        foreach (var r in measured)
            rows.Add(Row(r.Key, r.Label, "measured", stepBytes[r.Key], samples[r.Key], r.SparseBaseline,
                r.Policy.Adapters is not null && r.Policy.AdapterForm == AdapterForm.Merged, null));
        foreach (var p in projected)
        {
            double[] draft = samples[p.DraftRow], verify = samples["verify:" + p.Key];
            double[] round = [.. draft.Select((d, r) => DraftVerifyCost.RoundTime(p.DraftLength, d, verify[r]))];
            double bytes = WeightTraffic.DraftVerifyBytesPerToken(stepBytes[p.DraftRow], denseBytes, p.DraftLength, p.TokensPerRound);
            var projection = new BenchLatencyProjection(p.Method, p.DraftLength, p.TokensPerRound, p.Source, p.DraftRow, stepBytes[p.DraftRow],
                Summarise(draft), p.DraftLength + 1, p.VerifyLogits, Summarise(verify), verify, Summarise(round));
            string label = Inv($"{p.Method}, {(p.Key == "sirius" ? "kernel size" : "γ =")} {p.DraftLength}, {measured.Single(m => m.Key == p.DraftRow).Label} draft, E = {p.TokensPerRound:0.##} (projected)");
            rows.Add(Row(p.Key, label, "projected", bytes, [.. round.Select(t => t / p.TokensPerRound)], null, false, projection));
        }

        var compared = rows.Where(r => r.WithinFivePercentOfIdeal is not null).ToList();
        var mergedRows = rows.Where(r => r.MergedWithinThreePercent is not null).ToList();
        var goals = new BenchLatencyGoals(compared.Count(r => r.WithinFivePercentOfIdeal == true), compared.Count,
            mergedRows.Count(r => r.MergedWithinThreePercent == true), mergedRows.Count);

        bool cpu = loaded.Backend == BackendKind.Cpu;
        var notes = new List<string>(s.Notes)
        {
            "random weights and random adapters: the times depend on the shape, dtype and sparsity only; speculative and Sirius rows are " +
            "projected from measured step costs at the stated tokens per round (E), not measured decoding runs",
            "byte ideal: weight bytes read per token over dense's (WeightTraffic: GRIFFIN 3·k·D per sparsified FFN, CATS H·D + 2·k·D at the " +
            "target sparsity, adapters 2·D·r per layer merged or not, a verification pass one dense read); KV cache and activations not counted",
            "CATS: τ per layer from the prompt's dense prefill; the active neurons of a decode step vary around the target",
        };
        if (config.Layers < Presets[s.Preset]().Layers)
            notes.Add(Inv($"{config.Layers} of the preset's {Presets[s.Preset]().Layers} layers: the classifier weighs more in every row than in the full model"));
        if (cpu)
            notes.Add("cpu: a host memcpy also pays write-allocate traffic, so the copy roofline understates the read bandwidth (% of roofline can pass 100)");
        if (loaded.Backend.IsSimulator())
            notes.Add("cuda-sim: CUDA kernels simulated on the CPU; these times say nothing about a GPU");

        DeviceInfo? gpu = loaded.Backend.UsesDeviceMemory() ? CapreseLibrary.GetDeviceInfo(loaded.Backend, s.Load.Device) : null;
        return new BenchLatencyReport
        {
            Preset = s.Preset, Layers = config.Layers, PresetLayers = Presets[s.Preset]().Layers, Dim = config.Dim,
            HiddenDim = config.HiddenDim, Vocab = config.Vocab, Weights = CommandFailures.WeightsName(s.Weights), Backend = BackendArguments.Name(loaded.Backend),
            Device = gpu?.Name ?? RunEnvironment.CpuName(), Machine = Environment.MachineName,
            Threads = cpu ? (s.Load.NumThreads > 0 ? s.Load.NumThreads : Environment.ProcessorCount) : 0,
            LogicalProcessors = Environment.ProcessorCount, LoadAverageBefore = loadBefore, LoadAverageAfter = RunEnvironment.LoadAverage(),
            Commit = SourceRevision.Commit(), CapreseVersion = CapreseLibrary.Version,
            TimestampUtc = DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture), CommandLine = s.CommandLine,
            Context = s.Context, TokensPerRound = s.Tokens, Rounds = s.Rounds, Sparsity = s.Sparsity, AdapterRank = s.Rank,
            GriffinPath = s.GriffinPath.ToString().ToLowerInvariant(), DenseStepWeightBytes = denseBytes, CopyGBPerSecond = copy,
            Checks = checks, Rows = rows, Goals = goals, Notes = notes,
        };
    }

    private static string Markdown(BenchLatencyReport r)
    {
        var md = new StringBuilder();
        void Line(FormattableString text) => md.Append(Inv(text)).Append('\n');
        string Load(double[]? l) => l is null ? "unknown" : Inv($"{l[0]:F2} / {l[1]:F2} / {l[2]:F2}");
        string Pass(bool? ok) => ok switch { true => "pass", false => "**fail**", null => "–" };

        Line($"## Time to next token: {r.Preset}, {r.Layers} of {r.PresetLayers} layers (D {r.Dim}, H {r.HiddenDim}, vocab {r.Vocab}), {r.Weights}, {r.Backend} on {r.Device}");
        Line($"");
        Line($"- command: `{r.CommandLine}`");
        Line($"- commit {r.Commit}, caprese {r.CapreseVersion}, {r.TimestampUtc}; machine {r.Machine}, {r.LogicalProcessors} logical processors, {(r.Threads > 0 ? Inv($"{r.Threads} threads") : "GPU")}");
        Line($"- load average (1/5/15 min): {Load(r.LoadAverageBefore)} before, {Load(r.LoadAverageAfter)} after");
        Line($"- one session per row, {r.Context} prompt positions prefilled; per round, in a shuffled order, {r.TokensPerRound} greedy decode steps of each row from the prompt's end (rolled back after), the verification passes of the projected rows and a copy-bandwidth sample; {r.Rounds} timed rounds after a warm-up");
        Line($"- sparsity {r.Sparsity * 100:0.#}%, random adapters of rank {r.AdapterRank}, GRIFFIN path {r.GriffinPath}; dense step reads {Bytes(r.DenseStepWeightBytes)} of weights");
        Line($"- memory roofline: copy bandwidth {r.CopyGBPerSecond.Median:F1} GB/s (p25–p75 {r.CopyGBPerSecond.P25:F1}–{r.CopyGBPerSecond.P75:F1}, read + written), dense step at that rate {r.DenseStepWeightBytes / (r.CopyGBPerSecond.Median * 1e6):F2} ms");
        foreach (var c in r.Checks)
            Line($"- check: {c.Name}: {(c.Passed ? "ok" : "FAILED")} ({c.Detail})");
        foreach (string note in r.Notes)
            Line($"- note: {note}");
        Line($"");
        Line($"| row | ms/token | p25–p75 ms | / dense | p25–p75 | byte ideal | gap | GB/s | % roofline | within {IdealTolerancePercent:0}% of ideal | over sparse | merged ≤ {MergedTolerancePercent:0}% over sparse |");
        Line($"|---|---:|---:|---:|---:|---:|---:|---:|---:|:---:|---:|:---:|");
        foreach (var row in r.Rows)
        {
            string over = row.OverSparsePercent is { } o ? Inv($"{o:+0.0;-0.0;0.0}%") : "–";
            string gap = row.Key == "dense" ? "–" : Inv($"{row.GapPercent:+0.0;-0.0;0.0}%");
            Line($"| {row.Label} | {Ms(row.MsPerToken.Median)} | {Ms(row.MsPerToken.P25)}–{Ms(row.MsPerToken.P75)} | {row.Ratio:F3} | {row.RatioP25:F3}–{row.RatioP75:F3} | {row.ByteIdealRatio:F3} | {gap} | {Rate(row.WeightGBPerSecond)} | {row.PercentOfRoofline:F0}% | {Pass(row.WithinFivePercentOfIdeal)} | {over} | {Pass(row.MergedWithinThreePercent)} |");
        }
        Line($"");
        Line($"Goals (issue 13): {r.Goals.RowsWithinFivePercent} of {r.Goals.RowsCompared} rows within {IdealTolerancePercent:0}% of their byte-ideal ratio; {r.Goals.MergedWithinThreePercent} of {r.Goals.MergedCompared} merged-adapter rows within {MergedTolerancePercent:0}% of sparse alone.");
        Line($"");
        Line($"Projected rows (random weights make acceptance meaningless): time per generated token = (γ·t_draft + t_verify(γ+1)) / E, from the same round's measured draft steps and dense verification pass, at the stated E:");
        Line($"");
        Line($"| method | γ | E (from) | draft row | t_draft ms | verify rows | logits to host | t_verify ms | round ms | ms/token |");
        Line($"|---|---:|---:|---|---:|---:|:---:|---:|---:|---:|");
        foreach (var row in r.Rows.Where(x => x.Projection is not null))
        {
            var p = row.Projection!;
            Line($"| {p.Method} | {p.DraftLength} | {p.TokensPerRound:0.##} ({p.TokensPerRoundSource}) | {p.DraftRow} | {Ms(p.DraftStepMs.Median)} | {p.VerifyRows} | {(p.VerifyLogitsToHost ? "yes" : "no")} | {Ms(p.VerifyPassMs.Median)} | {Ms(p.RoundMs.Median)} | {Ms(row.MsPerToken.Median)} |");
        }
        return md.ToString();
    }

    // GB/s with a tenth at real shapes, three significant digits for a tiny model's small rates.
    private static string Rate(double gbps) => gbps.ToString(gbps >= 1 ? "F1" : "G3", CultureInfo.InvariantCulture);

    private static string Bytes(double b) => b >= 1e9 ? Inv($"{b / 1e9:F3} GB") : b >= 1e6 ? Inv($"{b / 1e6:F2} MB") : Inv($"{b / 1e3:F1} kB");

    // Milliseconds with about three significant digits, so that a tiny model's microseconds still show.
    private static string Ms(double ms) => ms.ToString(ms >= 100 ? "F1" : ms >= 1 ? "F2" : "G3", CultureInfo.InvariantCulture);

    private static void DrawPlot(BenchLatencyReport r, string path)
    {
        string title = Inv($"time per token / dense, measured vs byte ideal: {r.Preset}, {r.Layers}/{r.PresetLayers} layers, {r.Weights}, random weights\n") +
            Inv($"{r.Backend} {r.Device}{(r.Threads > 0 ? Inv($" ({r.Threads} threads)") : "")} on {r.Machine}, commit {r.Commit}, {r.TimestampUtc[..10]}");
        var plot = new LinePlot(title, "byte-ideal ratio (weight bytes per token / dense's)", "measured ratio (time per token / dense's)") { YFromZero = true };
        foreach (var row in r.Rows)
            plot.Add(row.Key + (row.Kind == "projected" ? " (projected)" : ""), [row.ByteIdealRatio], [row.Ratio]);
        double hi = Math.Max(1.05, r.Rows.Max(x => x.ByteIdealRatio) * 1.05), lo = Math.Min(0.5, r.Rows.Min(x => x.ByteIdealRatio) * 0.95);
        double[] xs = [lo, hi];
        plot.Add("measured = ideal", xs, xs, markers: false, dashed: true);
        plot.Add(Inv($"+{IdealTolerancePercent:0}%"), xs, [.. xs.Select(x => x * (1 + IdealTolerancePercent / 100))], markers: false, dashed: true);
        plot.Add(Inv($"−{IdealTolerancePercent:0}%"), xs, [.. xs.Select(x => x * (1 - IdealTolerancePercent / 100))], markers: false, dashed: true);
        plot.SavePng(path, 1000, 680);
    }

    private static BenchLatencyTiming Summarise(double[] v) =>
        new(SampleStatistics.Quantile(v, 0.5), SampleStatistics.Quantile(v, 0.25), SampleStatistics.Quantile(v, 0.75), v.Min(), v.Max(), v.Length);

    private static string CommandLine() =>
        "caprese " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1).Select(a => a.Contains(' ') ? $"\"{a}\"" : a));

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
