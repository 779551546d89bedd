using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Caprese.Cli.Training;
using Caprese.Interop;
using Caprese.Models;
using Caprese.Models.Adapters;
using Caprese.Models.Loading;
using Caprese.Models.Sparsity;
using Caprese.Models.Training.EndToEnd;
using Caprese.Models.Training.Stage1;
using Caprese.Models.Transformer;

namespace Caprese.Cli.Commands;

/// <summary>
/// `caprese bench-training`: how fast Caprese adapters train on one model shape and backend, for both stages.
/// <list type="bullet">
/// <item>Stage 1: rows/s of one layer's Adam steps on ‖X·L·R − T‖² (<see cref="LayerwiseDistiller.TrainLayer"/> on random
/// X/T of the model's D, one batch per epoch, timed between epoch reports so that only steps are counted: gradient
/// products on the backend, Adam on the host). The cost does not depend on the values, nor on which layer.</item>
/// <item>Stage 2: tokens/s of <see cref="EndToEndGraph.AccumulateGradients"/> over a batch of random token sequences
/// plus <see cref="EndToEndGraph.AdamStep"/>, with <see cref="NativeTrainingOps"/> on the model's context.</item>
/// </list>
/// The model is a synthetic (seeded random) one of a preset shape cut to <c>--layers</c> (default: llama-3.1-8b, 1
/// layer), or a model file with <c>--model PATH</c> (<c>--model</c> alone: the embedded stories260K), used whole.
/// One warm-up step of each stage is excluded from the timing.
/// </summary>
internal static class BenchTrainingCommand
{
    /// <summary>Exit code for a host or device allocation failure (the other codes are <see cref="ExitCodes"/>').</summary>

    private const int PresetRank = 256;

    private static IReadOnlyDictionary<string, Func<ModelConfig>> Presets => ModelPresets.ByName;

    private sealed record Settings(
        string? Preset, string? ModelPath, int Layers, string? Weights, ModelLoadOptions Load, string Method, double Sparsity,
        string? SparseLayers, int Rank, int Tokens, int PromptTokens, int Batch, int Steps, int Stage1Batch, int Stage1Steps, string? Json);

    public static Command Create()
    {
        var preset = new Option<string>("--preset") { Description = "Model shape of the synthetic model", DefaultValueFactory = _ => "llama-3.1-8b" };
        preset.AcceptOnlyFromAmong([.. Presets.Keys]);
        var model = new Option<string?>("--model", "-m")
        {
            Description = "Benchmark a model file (as for generate) instead of a preset, whole; --model alone = the embedded stories260K",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var layers = new Option<int>("--layers") { Description = "Layers of the synthetic preset model", DefaultValueFactory = _ => 1 };
        var weights = new Option<string?>("--weights") { Description = "f32, f16 or bf16 (default: bf16 for a preset, f32 for --model)" };
        weights.AcceptOnlyFromAmong(CommandFailures.WeightNames);
        var backend = new BackendArguments();
        var method = new Option<string>("--sparsity-method") { Description = "griffin or cats", DefaultValueFactory = _ => "griffin" };
        method.AcceptOnlyFromAmong(SparsityArguments.AdapterMethods);
        var sparsity = new Option<double>("--sparsity") { Description = "Fraction of FFN neurons skipped, in [0, 1)", DefaultValueFactory = _ => 0.5 };
        sparsity.Validators.Add(r => { double v = r.GetValueOrDefault<double>(); if (!(v >= 0 && v < 1)) r.AddError("--sparsity must be in [0, 1)"); });
        var sparseLayers = new Option<string?>("--sparse-layers") { Description = "all or first-half (default: first-half for griffin, all for cats)" };
        sparseLayers.AcceptOnlyFromAmong(SparsityArguments.LayerChoices);
        var rank = new Option<int>("--rank", "-r")
        {
            Description = $"Adapter rank (0 = {PresetRank} for a preset, capped at its dimension; about 1% extra parameters for --model)",
            DefaultValueFactory = _ => 0,
        };
        var tokens = new Option<int>("--tokens") { Description = "Stage-2 sequence length, prompt + continuation", DefaultValueFactory = _ => 80 };
        var promptTokens = new Option<int>("--prompt-tokens") { Description = "Stage-2 prompt length (dense prefill, the sparsity statistics)", DefaultValueFactory = _ => 16 };
        var batch = new Option<int>("--batch") { Description = "Stage-2 sequences per optimiser step", DefaultValueFactory = _ => 4 };
        var steps = new Option<int>("--steps") { Description = "Stage-2 steps timed after one warm-up step", DefaultValueFactory = _ => 5 };
        var stage1Batch = new Option<int>("--stage1-batch") { Description = "Stage-1 rows per step", DefaultValueFactory = _ => 128 };
        var stage1Steps = new Option<int>("--stage1-steps") { Description = "Stage-1 steps timed after one warm-up step", DefaultValueFactory = _ => 20 };
        var json = new Option<string?>("--json") { Description = "Also write the figures as JSON to this file (written atomically)" };
        rank.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 0) r.AddError("--rank must be >= 0"); });
        foreach (var o in new[] { layers, promptTokens, batch, steps, stage1Batch, stage1Steps })
            o.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 1) r.AddError($"{o.Name} must be >= 1"); });
        tokens.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 2) r.AddError("--tokens must be >= 2"); });

        var command = new Command("bench-training",
            "Time Caprese adapter training (stage 1 rows/s, stage 2 tokens/s) on a synthetic model of a preset shape or a model file")
        {
            preset, model, layers, weights, backend.Backend, backend.Device, backend.Threads, method, sparsity, sparseLayers, rank, tokens, promptTokens, batch, steps,
            stage1Batch, stage1Steps, json,
        };
        command.SetAction((parse, ct) =>
        {
            bool fromFile = parse.GetResult(model) is { Implicit: false };
            bool explicitPreset = parse.GetResult(preset) is { Implicit: false };
            bool explicitLayers = parse.GetResult(layers) is { Implicit: false };
            if (fromFile && explicitPreset)
                return Fail("--preset and --model are exclusive: give one", ExitCodes.BadArguments);
            if (fromFile && explicitLayers)
                return Fail("--layers cuts the synthetic preset model; a --model file is used whole", ExitCodes.BadArguments);
            if (parse.GetValue(promptTokens) >= parse.GetValue(tokens))
                return Fail($"--prompt-tokens ({parse.GetValue(promptTokens)}) must be below --tokens ({parse.GetValue(tokens)}): the continuation needs a token",
                    ExitCodes.BadArguments);
            var settings = new Settings(
                fromFile ? null : parse.GetValue(preset),
                fromFile ? parse.GetValue(model) ?? DefaultModel.Path : null,
                parse.GetValue(layers), parse.GetValue(weights),
                backend.LoadOptions(parse),
                parse.GetValue(method)!, parse.GetValue(sparsity), parse.GetValue(sparseLayers), parse.GetValue(rank),
                parse.GetValue(tokens), parse.GetValue(promptTokens), parse.GetValue(batch), parse.GetValue(steps),
                parse.GetValue(stage1Batch), parse.GetValue(stage1Steps), parse.GetValue(json));
            return RunAsync(settings, ct);
        });
        return command;
    }

    private static Task<int> Fail(string message, int code)
    {
        Console.Error.WriteLine($"error: {message}");
        return Task.FromResult(code);
    }

    private static async Task<int> RunAsync(Settings s, CancellationToken ct)
    {
        if (BackendArguments.Unusable(s.Load.Backend, s.Load.Device) is { } unusable)
            return await Fail(unusable.Message, unusable.ExitCode);

        var clock = Stopwatch.StartNew();
        LoadedModel? loaded;
        string name, weightsName;
        try
        {
            if (s.ModelPath is { } path)
            {
                var dtype = CommandFailures.ParseWeights(s.Weights ?? "f32");
                var (opened, code) = await ModelOpener.OpenAsync(path, s.Load with { WeightType = dtype }, needTokenizer: false, ct);
                if (opened is null)
                    return code;
                loaded = opened;
                name = path == DefaultModel.Path ? "stories260K (embedded)" : path;
                weightsName = CommandFailures.WeightsName(dtype);
            }
            else
            {
                var dtype = CommandFailures.ParseWeights(s.Weights ?? "bf16");
                var full = Presets[s.Preset!]();
                if (s.Layers > full.Layers)
                    return await Fail($"--layers {s.Layers} exceeds {s.Preset}'s {full.Layers} layers", ExitCodes.BadArguments);
                var config = full with { Layers = s.Layers, MaxSeqLen = s.Tokens };
                BackendArguments.NoteIfSimulator(s.Load.Backend, Console.Error); // ModelOpener notes it on the --model path
                loaded = SyntheticModel.Create(config, seed: 1, dtype, s.Load, cancellationToken: ct);
                name = s.Preset!;
                weightsName = CommandFailures.WeightsName(dtype);
            }
        }
        catch (Exception ex) when (CommandFailures.Classify(ex, "try fewer --layers, --tokens or --batch, or --weights bf16") is { } failure)
        {
            return await Fail(failure.Message, failure.Code);
        }
        catch (OperationCanceledException)
        {
            return ExitCodes.Cancelled;
        }
        double buildS = clock.Elapsed.TotalSeconds;

        using (loaded)
        {
            try
            {
                return Measure(s, loaded, name, weightsName, buildS, ct);
            }
            catch (Exception ex) when (CommandFailures.Classify(ex, "try fewer --layers, --tokens or --batch, or --weights bf16") is { } failure)
            {
                return await Fail(failure.Message, failure.Code);
            }
            catch (OperationCanceledException)
            {
                await Console.Error.WriteLineAsync("interrupted");
                return ExitCodes.Cancelled;
            }
        }
    }

    private static int Measure(Settings s, LoadedModel loaded, string name, string weightsName, double buildS, CancellationToken ct)
    {
        var config = loaded.Config;
        var sparsity = SparsityArguments.Parse(s.Method, s.Sparsity, s.SparseLayers, config.Layers);
        EndToEndGraph.CheckSupported(config, sparsity);
        int rank = s.Rank > 0 ? s.Rank
            : s.Preset is not null ? Math.Min(PresetRank, config.Dim)
            : AdapterSet.DefaultRank(config, sparsity);
        if (rank > config.Dim)
            throw new ArgumentException($"--rank {rank} exceeds the model dimension {config.Dim}");
        if (s.Tokens > config.MaxSeqLen)
            throw new ArgumentException($"--tokens {s.Tokens} exceeds the model's context of {config.MaxSeqLen}");
        var (first, end) = sparsity.LayerRange(config.Layers);
        int sparseLayerCount = end - first;
        var adapters = AdapterSet.CreateInitial(config, sparsity, rank, seed: 0);
        string methodName = sparsity.Method.ToString().ToLowerInvariant();
        string backendName = BackendArguments.Name(loaded.Backend);
        DeviceInfo? cuda = loaded.Backend.UsesDeviceMemory() ? CapreseLibrary.GetDeviceInfo(loaded.Backend, s.Load.Device) : null;
        int threads = loaded.Backend == BackendKind.Cpu ? (s.Load.NumThreads > 0 ? s.Load.NumThreads : Environment.ProcessorCount) : 0;

        Console.WriteLine(Inv($"{name}: {config.Layers} layer{(config.Layers == 1 ? "" : "s")}, D {config.Dim}, H {config.HiddenDim}, vocab {config.Vocab}, ") +
            Inv($"weights {weightsName} ({Bytes(loaded.Model.Weights.Bytes)}, built in {buildS:F1} s); backend {BackendArguments.Describe(loaded.Backend)} ") +
            Inv($"({(cuda is not null ? cuda.Name : $"{threads} threads")}); {methodName} {s.Sparsity * 100:F0}% in layers {first}..{end - 1}, ") +
            Inv($"rank {rank} ({adapters.ParameterCount:N0} adapter parameters)"));

        // ---- stage 1: one layer (every sparsified layer has the same D and rank, so the same cost).
        var stage1 = Stage1(loaded, adapters.Adapters[0], s.Stage1Batch, s.Stage1Steps, ct);
        double s1RowsMedian = s.Stage1Batch / stage1.Median;
        double s1RowsTotal = s.Stage1Batch * s.Stage1Steps / stage1.Total;

        // ---- stage 2: the whole graph, every sparsified layer.
        var stage2 = Stage2(loaded, adapters, s.Tokens, s.PromptTokens, s.Batch, s.Steps, ct);
        int tokensPerStep = s.Batch * s.Tokens, continuationPerStep = s.Batch * (s.Tokens - s.PromptTokens);
        double s2Median = tokensPerStep / stage2.Median;
        double s2Total = tokensPerStep * s.Steps / stage2.Total;
        double s2Continuation = continuationPerStep * s.Steps / stage2.Total;
        long peak = Process.GetCurrentProcess().PeakWorkingSet64;

        Console.WriteLine(Inv($"{"stage",-6} {"step",-48} {"ms/step (median)",17} throughput (median)"));
        Console.WriteLine(Inv($"{"1",-6} {Inv($"{s.Stage1Batch} rows x D {config.Dim}, r {rank}, Adam; {s.Stage1Steps} step{(s.Stage1Steps == 1 ? "" : "s")}"),-48} {stage1.Median * 1e3,17:F2} ") +
            Inv($"{Inv($"{s1RowsMedian:F0} rows/s per layer = {s1RowsMedian / sparseLayerCount:F0} tokens/s ({sparseLayerCount} layer{(sparseLayerCount == 1 ? "" : "s")})")}"));
        Console.WriteLine(Inv($"{"2",-6} {Inv($"{s.Batch} x {s.Tokens} tokens ({s.PromptTokens} prompt), AdamW; {s.Steps} step{(s.Steps == 1 ? "" : "s")}"),-48} {stage2.Median * 1e3,17:F2} ") +
            Inv($"{Inv($"{s2Median:F1} tokens/s ({s2Median * (s.Tokens - s.PromptTokens) / s.Tokens:F1} continuation)")}"));
        Console.WriteLine(Inv($"over all timed steps: stage 1 {s1RowsTotal:F0} rows/s, stage 2 {s2Total:F1} tokens/s; stage-2 graph set-up {stage2.SetupS:F1} s; ") +
            Inv($"host peak working set {Bytes(peak)}{(cuda is not null ? Inv($"; device {cuda.TotalMemoryBytes / 1e9:F0} GB (device memory use not measured)") : "")}"));

        if (s.Json is not null)
            BenchTrainingReport.Write(s.Json, new BenchTrainingReport
            {
                Model = name, Source = s.Preset is not null ? "synthetic preset" : "file",
                Layers = config.Layers, Dim = config.Dim, HiddenDim = config.HiddenDim, Vocab = config.Vocab,
                Weights = weightsName, WeightBytes = loaded.Model.Weights.Bytes, Backend = backendName,
                Device = cuda?.Name ?? Environment.MachineName, DeviceTotalMemoryBytes = cuda?.TotalMemoryBytes, Threads = threads,
                SparsityMethod = methodName, Sparsity = s.Sparsity, SparseLayers = Inv($"{first}..{end - 1}"), Rank = rank,
                AdapterParameters = adapters.ParameterCount,
                Stage1BatchRows = s.Stage1Batch, Stage1Steps = s.Stage1Steps, Stage1MsPerStepMedian = stage1.Median * 1e3,
                Stage1RowsPerSecond = s1RowsMedian, Stage1RowsPerSecondTotal = s1RowsTotal, Stage1TokensPerSecond = s1RowsMedian / sparseLayerCount,
                Stage2TokensPerSequence = s.Tokens, Stage2PromptTokens = s.PromptTokens, Stage2Batch = s.Batch, Stage2Steps = s.Steps,
                Stage2MsPerStepMedian = stage2.Median * 1e3, Stage2TokensPerSecond = s2Median, Stage2TokensPerSecondTotal = s2Total,
                Stage2ContinuationTokensPerSecond = s2Continuation, Stage2SetupSeconds = stage2.SetupS,
                BuildSeconds = buildS, HostPeakWorkingSetBytes = peak,
                CapreseVersion = CapreseLibrary.Version, TimestampUtc = DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture),
            });
        return ExitCodes.Ok;
    }

    /// <summary>Seconds per stage-1 step: median and total over the timed steps.</summary>
    private static (double Median, double Total) Stage1(LoadedModel loaded, LowRankAdapter start, int batch, int steps, CancellationToken ct)
    {
        int d = start.Dim;
        var rng = new Random(1);
        var x = new float[batch * d];
        var t = new float[batch * d];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = rng.NextSingle() * 2 - 1;
            t[i] = (rng.NextSingle() * 2 - 1) * 0.1f;
        }
        // One batch per epoch, so that the distiller reports after every step; the first report closes the warm-up step
        // (and the initial full-data loss), the last step is followed only by the final loss, outside the timing.
        var distiller = new LayerwiseDistiller(loaded.Model, new LayerwiseDistillerOptions(Rank: start.Rank, BatchSize: batch, Epochs: steps + 1));
        var clock = Stopwatch.StartNew();
        var marks = new List<double>(steps + 1);
        distiller.TrainLayer(new LayerSamples(start.Layer, d, x, t), start, new SynchronousProgress<Stage1Progress>(_ => marks.Add(clock.Elapsed.TotalSeconds)), ct);
        var times = new double[steps];
        for (int i = 0; i < steps; i++)
            times[i] = marks[i + 1] - marks[i];
        return (Median(times), marks[^1] - marks[0]);
    }

    /// <summary>Seconds per stage-2 step (median and total over the timed steps) and the graph's set-up time.</summary>
    private static (double Median, double Total, double SetupS) Stage2(LoadedModel loaded, AdapterSet adapters, int tokens, int prompt, int batch,
        int steps, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        using var ops = new NativeTrainingOps(loaded.Context);
        using var graph = new EndToEndGraph(ops, loaded.Context, loaded.Model.Weights, adapters.Sparsity, adapters.Rank, tokens);
        graph.LoadAdapters(adapters);
        graph.ResetOptimizer();
        ops.Synchronize();
        double setup = clock.Elapsed.TotalSeconds;

        var rng = new Random(2);
        var sequences = new EndToEndSequence[batch];
        for (int b = 0; b < batch; b++)
            sequences[b] = new EndToEndSequence(Enumerable.Range(0, tokens).Select(_ => rng.Next(loaded.Config.Vocab)).ToArray(), prompt);

        var times = new double[steps];
        for (int step = 0; step <= steps; step++)
        {
            ct.ThrowIfCancellationRequested();
            clock.Restart();
            graph.ZeroGradients();
            foreach (var sequence in sequences)
                graph.AccumulateGradients(sequence, 1f / batch);
            graph.AdamStep(new AdamParameters(1e-4f, 0.9f, 0.999f, 1e-8f, 0f, step + 1));
            ops.Synchronize();
            if (step > 0)
                times[step - 1] = clock.Elapsed.TotalSeconds;
        }
        return (Median(times), times.Sum(), setup);
    }

    private static double Median(double[] values)
    {
        var sorted = values.Order().ToArray();
        int n = sorted.Length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    private static string Bytes(double b) => b >= 1e9 ? Inv($"{b / 1e9:F2} GB") : Inv($"{b / 1e6:F1} MB");

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
