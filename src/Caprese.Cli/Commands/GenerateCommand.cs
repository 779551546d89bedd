using System.CommandLine;
using System.Globalization;
using Caprese.Models;
using Caprese.Models.Decoding;
using Caprese.Models.Generation;
using Caprese.Models.Sessions;
using Caprese.Models.Sparsity;

namespace Caprese.Cli.Commands;

/// <summary>`caprese generate`: streams a continuation of the prompt, then one line of statistics.</summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "A GGUF file, a llama2.c checkpoint (.bin, tokenizer beside it) or a Hugging Face directory (config.json + safetensors); default: the embedded stories260K" };
        var prompt = new Option<string>("--prompt", "-p") { Description = "Text to continue", DefaultValueFactory = _ => "Once upon a time" };
        var backend = new BackendArguments();
        var weights = new Option<string>("--weights") { Description = CommandFailures.LoadWeightsDescription, DefaultValueFactory = _ => "stored" };
        weights.AcceptOnlyFromAmong(CommandFailures.LoadWeightNames);
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "Tokens to generate at most", DefaultValueFactory = _ => 256 };
        var sampling = new SamplingArguments();
        var stop = new Option<string[]>("--stop") { Description = "Stop when the text contains this string (not printed); repeatable", AllowMultipleArgumentsPerToken = false };
        var context = new Option<int>("--context") { Description = $"KV-cache positions (0 = the model's context, at most {ModelLoadOptions.DefaultMaxContext})", DefaultValueFactory = _ => 0 };
        var policy = new PolicyArguments();
        var decoding = new DecodingArguments();

        maxTokens.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 0) r.AddError("--max-tokens must be >= 0"); });
        context.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 0) r.AddError("--context must be >= 0"); });
        stop.Validators.Add(r => { if (r.GetValueOrDefault<string[]>()?.Any(string.IsNullOrEmpty) == true) r.AddError("--stop needs a non-empty string"); });

        var command = new Command("generate", "Generate text from a prompt")
        {
            model, prompt, backend.Backend, backend.Device, weights, maxTokens, sampling.Temperature, sampling.TopK, sampling.TopP, sampling.Seed,
            stop, context, backend.Threads,
        };
        foreach (var o in policy.All.Concat(decoding.All))
            command.Options.Add(o);
        decoding.AddValidators(command, policy);
        command.SetAction((parse, ct) => RunAsync(new Request(
            parse.GetValue(model) ?? DefaultModel.Path,
            parse.GetValue(prompt)!,
            backend.LoadOptions(parse) with
            {
                WeightType = CommandFailures.ParseLoadWeights(parse.GetValue(weights)!),
                ContextLength = parse.GetValue(context),
            },
            new GenerationOptions(parse.GetValue(maxTokens), parse.GetValue(sampling.Temperature), parse.GetValue(sampling.TopK),
                parse.GetValue(sampling.TopP), parse.GetValue(sampling.Seed), parse.GetValue(stop) is { Length: > 0 } stops ? stops : null),
            policy.Read(parse), decoding.Read(parse)), ct));
        return command;
    }

    private sealed record Request(string ModelPath, string Prompt, ModelLoadOptions Load, GenerationOptions Options,
        PolicyArguments.Request Policy, DecodingArguments.Request Decoding);

    private static async Task<int> RunAsync(Request request, CancellationToken ct)
    {
        var stderr = Console.Error;
        var (loaded, code) = await ModelOpener.OpenAsync(request.ModelPath, request.Load, needTokenizer: true, ct);
        if (loaded is null)
            return code;
        using (loaded)
        {
            GenerationOptions options;
            FfnPolicy policy;
            TextGenerator generator;
            try
            {
                policy = await request.Policy.ResolveAsync(loaded);
                // The generator's session is the only one: no built-in session (and second KV cache) is made.
                generator = new TextGenerator(loaded.Model, loaded.Tokenizer, policy);
                options = request.Options with { Decoding = request.Decoding.Resolve(loaded) };
            }
            catch (Exception ex) when (CommandFailures.InputErrorCode(ex) is { } exit)
            {
                await stderr.WriteLineAsync($"error: {ex.Message}");
                return exit;
            }
            var stdout = Console.Out;
            try
            {
                await stdout.WriteAsync(request.Prompt);
                await foreach (var piece in generator.GenerateAsync(request.Prompt, options, ct))
                {
                    await stdout.WriteAsync(piece);
                    await stdout.FlushAsync(ct);
                }
            }
            catch (OperationCanceledException)
            {
                await stdout.WriteLineAsync();
                await stderr.WriteLineAsync("cancelled");
                return ExitCodes.Cancelled;
            }
            catch (ArgumentException ex)
            {
                await stdout.WriteLineAsync();
                await stderr.WriteLineAsync($"error: {ex.Message}");
                return ExitCodes.BadArguments;
            }

            var s = generator.LastStats!;
            await stdout.WriteLineAsync();
            await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"[prompt tokens: {s.PromptTokenCount}, generated tokens: {s.GeneratedTokenCount}, prefill: {s.PrefillMilliseconds:F2} ms, decode: {s.DecodeTokensPerSecond:F1} tokens/s, backend: {BackendArguments.Describe(loaded.Backend)}, weights: {loaded.Model.Weights.MatrixType.ToString().ToLowerInvariant()}, stop: {s.StopReason}{Describe(policy.Sparsity, loaded.Config.Layers)}{(policy.Adapters is { } a ? $", caprese adapters: rank {a.Rank}, {policy.AdapterForm.ToString().ToLowerInvariant()}" : "")}{DescribeDecoding(options.Decoding, s, loaded, policy)}]"));
            return ExitCodes.Ok;
        }
    }

    // The method's counters: what it cost in full-model passes and in weight bytes read per token.
    private static string DescribeDecoding(IDecodingMethod? method, GenerationStats s, LoadedModel loaded, FfnPolicy policy)
    {
        if (method is null or PlainDecoding)
            return "";
        var d = s.Decoding;
        string settings = method is DraftVerifyDecoding dv ? (method.Name == "sirius" ? $"kernel {dv.DraftLength}" : $"γ={dv.DraftLength}") : "";
        string judged = method.Name == "judge" ? $" ({d.AcceptedByJudgeOnly} by the judge alone)" : "";
        return string.Create(CultureInfo.InvariantCulture,
            $", decoding: {method.Name} {settings}: {d.AverageAdvance:F2} tokens per dense pass (AAL), {d.Accepted}/{d.Drafted} drafts kept{judged}, effective density {d.EffectiveDensity(loaded.Model, policy):F3}");
    }

    private static string Describe(SparsityOptions o, int layers)
    {
        if (o.Method == SparsityMethod.None)
            return "";
        var (first, end) = o.LayerRange(layers);
        string calibrated = o.Calibration is { } c ? string.Create(CultureInfo.InvariantCulture, $", calibrated on text ({c.RowCount} rows)") : "";
        return string.Create(CultureInfo.InvariantCulture, $", sparsity: {o.Method.ToString().ToLowerInvariant()} {o.Sparsity * 100:F0}% in layers {first}..{end - 1}{calibrated}");
    }
}
