using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Caprese.Interop;
using Caprese.Models;
using Caprese.Models.Sessions;
using Caprese.Models.Transformer;

namespace Caprese.Cli.Commands;

/// <summary>`caprese bench`: greedy decode speed of a synthetic model at a real checkpoint's shape (no files needed).</summary>
internal static class BenchCommand
{
    private static IReadOnlyDictionary<string, Func<ModelConfig>> Presets => ModelPresets.ByName;

    public static Command Create()
    {
        var preset = new Option<string>("--preset") { Description = "Model shape", DefaultValueFactory = _ => "llama-3.1-8b" };
        preset.AcceptOnlyFromAmong([.. Presets.Keys]);
        var layers = new Option<int>("--layers") { Description = "Layers to instantiate (0 = all of the preset)", DefaultValueFactory = _ => 0 };
        var backend = BackendArguments.CreateOption();
        var device = new Option<int>("--device", "-d") { Description = "CUDA device ordinal", DefaultValueFactory = _ => 0 };
        var weights = new Option<string>("--weights") { Description = "f32, f16 or bf16", DefaultValueFactory = _ => "bf16" };
        weights.AcceptOnlyFromAmong(CommandFailures.WeightNames);
        var promptTokens = new Option<int>("--prompt-tokens") { Description = "Prefill length", DefaultValueFactory = _ => 32 };
        var decodeTokens = new Option<int>("--decode-tokens") { Description = "Greedy decode steps timed", DefaultValueFactory = _ => 32 };
        var json = new Option<string?>("--json") { Description = "Also write the figures as JSON to this file (written atomically)" };
        var cudaGraphs = new Option<bool>("--cuda-graphs")
        {
            Description = "Also time whole decode steps eager against replayed as a CUDA graph, side by side (device backends)",
        };
        foreach (var o in new[] { layers, promptTokens, decodeTokens })
            o.Validators.Add(r => { if (r.GetValueOrDefault<int>() < (o == layers ? 0 : 1)) r.AddError($"{o.Name} is out of range"); });

        var command = new Command("bench", "Time prefill and greedy decoding of a synthetic (seeded random) model of a preset shape")
        {
            preset, layers, backend, device, weights, promptTokens, decodeTokens, json, cudaGraphs,
        };
        command.SetAction(parse =>
        {
            var config = Presets[parse.GetValue(preset)!]();
            if (parse.GetValue(layers) is > 0 and var n)
                config = config with { Layers = n };
            var options = new ModelLoadOptions(BackendArguments.Parse(parse.GetValue(backend)!), parse.GetValue(device));
            var dtype = CommandFailures.ParseWeights(parse.GetValue(weights)!);
            return Run(parse.GetValue(preset)!, config, options, dtype, parse.GetValue(promptTokens), parse.GetValue(decodeTokens),
                parse.GetValue(json), parse.GetValue(cudaGraphs));
        });
        return command;
    }

    private static int Run(string name, ModelConfig config, ModelLoadOptions options, DType dtype, int promptTokens, int decodeTokens,
        string? jsonPath, bool cudaGraphs)
    {
        if (BackendArguments.Unusable(options.Backend, options.Device) is { } unusable)
        {
            Console.Error.WriteLine($"error: {unusable.Message}");
            return unusable.ExitCode;
        }
        if (cudaGraphs && !options.Backend.UsesDeviceMemory())
        {
            Console.Error.WriteLine($"error: --cuda-graphs needs a device backend (cuda or cuda-sim), not {BackendArguments.Name(options.Backend)}");
            return ExitCodes.BadArguments;
        }
        BackendArguments.NoteIfSimulator(options.Backend, Console.Error);
        // The graph comparison decodes GraphComparison.UntimedSteps more tokens per session.
        int positions = promptTokens + decodeTokens + 1 + (cudaGraphs ? DecodeGraphBench.UntimedSteps : 0);
        config = config with { MaxSeqLen = Math.Min(config.MaxSeqLen, positions) };
        var clock = Stopwatch.StartNew();
        using var loaded = SyntheticModel.Create(config, seed: 1, dtype, options);
        double buildS = clock.Elapsed.TotalSeconds;
        var prompt = Enumerable.Range(0, promptTokens).Select(i => (i * 7919 + 1) % config.Vocab).ToArray();

        clock.Restart();
        int token = loaded.Model.PrefillArgmax(prompt, 0);
        double prefillMs = clock.Elapsed.TotalMilliseconds;
        clock.Restart();
        for (int i = 0; i < decodeTokens; i++)
            token = loaded.Model.DecodeStepArgmax(token, promptTokens + i);
        double decodeMs = clock.Elapsed.TotalMilliseconds;

        // The memory roofline: every weight byte a step needs is read once per decoded token, so
        // the best possible latency is those bytes / copy bandwidth, measured on the same backend.
        double weightBytes = loaded.Model.Weights.BytesReadPerToken;
        double msPerToken = decodeMs / decodeTokens;
        double achievedGBps = weightBytes / (msPerToken * 1e6);
        double copyGBps = CopyBandwidth.Measure(loaded.Context);
        double rooflineMs = weightBytes / (copyGBps * 1e6);

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"[{name}, {config.Layers} layers, weights {dtype.ToString().ToLowerInvariant()} ({loaded.Model.Weights.Bytes / 1e9:F2} GB, {weightBytes / 1e9:F2} GB read per token), backend {BackendArguments.Describe(options.Backend)}: build {buildS:F1} s, prefill {promptTokens} tokens {prefillMs:F1} ms, decode {decodeTokens * 1000.0 / decodeMs:F2} tokens/s]"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"[per token {msPerToken:F3} ms = {achievedGBps:F1} GB/s of weights; copy bandwidth {copyGBps:F1} GB/s -> roofline {rooflineMs:F3} ms/token; {100 * rooflineMs / msPerToken:F1}% of roofline]"));
        if (options.Backend == BackendKind.Cpu)
            Console.WriteLine("[cpu: a host memcpy also pays write-allocate traffic, so this copy roofline understates the read bandwidth; it is the GPU figure that matters]");
        DecodeGraphBench? graphs = null;
        if (cudaGraphs)
        {
            graphs = DecodeGraphBench.Run(loaded.Model, loaded.Context, prompt, Math.Min(decodeTokens, config.MaxSeqLen - promptTokens - DecodeGraphBench.UntimedSteps));
            Console.WriteLine(graphs.Describe());
        }
        if (options.Backend.IsSimulator())
            Console.WriteLine("[cuda-sim: the CUDA simulator runs the CUDA kernels on the CPU, so these figures say nothing about a GPU's speed]");
        if (jsonPath is not null)
            BenchReport.Write(jsonPath, new BenchReport(name, config.Layers, dtype.ToString().ToLowerInvariant(),
                BackendArguments.Name(options.Backend), DeviceName(options), weightBytes, promptTokens, prefillMs,
                decodeTokens, msPerToken, achievedGBps, copyGBps, rooflineMs, 100 * rooflineMs / msPerToken,
                CapreseLibrary.Version, DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture), graphs));
        if (graphs is { TokensMatch: false })
        {
            Console.Error.WriteLine("error: the graph-replayed decode steps chose other tokens than the eager ones (see the line above)");
            return ExitCodes.CheckFailed;
        }
        return ExitCodes.Ok;
    }

    private static string DeviceName(ModelLoadOptions options) =>
        options.Backend.UsesDeviceMemory() ? CapreseLibrary.GetDeviceInfo(options.Backend, options.Device).Name : Environment.MachineName;
}
