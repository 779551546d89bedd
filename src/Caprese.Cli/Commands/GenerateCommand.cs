using System.CommandLine;
using System.Globalization;
using Caprese.Interop;
using Caprese.Models;
using Caprese.Models.Adapters;
using Caprese.Models.Decoding;
using Caprese.Models.Decoding.Judge;
using Caprese.Models.Generation;
using Caprese.Models.Loading;
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
        var weights = new Option<string>("--weights") { Description = "Storage type of the weight matrices: f32, f16 or bf16", DefaultValueFactory = _ => "f32" };
        weights.AcceptOnlyFromAmong(CommandFailures.WeightNames);
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "Tokens to generate at most", DefaultValueFactory = _ => 256 };
        var temperature = new Option<float>("--temperature", "-t") { Description = "0 = greedy", DefaultValueFactory = _ => 0f };
        var topK = new Option<int>("--top-k") { Description = "Sample among the K most likely tokens (0 = off)", DefaultValueFactory = _ => 0 };
        var topP = new Option<float>("--top-p") { Description = "Sample among the most likely tokens holding probability P (1 = off)", DefaultValueFactory = _ => 1f };
        var seed = new Option<int?>("--seed", "-s") { Description = "Random seed for sampling" };
        var stop = new Option<string[]>("--stop") { Description = "Stop when the text contains this string (not printed); repeatable", AllowMultipleArgumentsPerToken = false };
        var context = new Option<int>("--context") { Description = $"KV-cache positions (0 = the model's context, at most {ModelLoadOptions.DefaultMaxContext})", DefaultValueFactory = _ => 0 };
        var sparsityMethod = new Option<string>("--sparsity-method", "--draft-sparsity-method") { Description = "Contextual sparsity for decode (the draft's, with --decode speculative/sirius/judge): none, griffin, cats or teal (teal masks inputs on the host: quality only, slower)", DefaultValueFactory = _ => "none" };
        sparsityMethod.AcceptOnlyFromAmong(SparsityArguments.Methods);
        var sparsity = new Option<double>("--sparsity") { Description = "Fraction of FFN neurons skipped, in [0, 1)", DefaultValueFactory = _ => 0.5 };
        var sparseLayers = new Option<string?>("--sparse-layers") { Description = "all or first-half (default: first-half for griffin, all for cats)" };
        sparseLayers.AcceptOnlyFromAmong(SparsityArguments.LayerChoices);
        var adapter = new Option<string?>("--adapter") { Description = "Caprese adapter file (from `caprese distill`); decode runs the sparsity it was trained for unless --sparsity-method says otherwise (which must then match)" };
        var adapterForm = new Option<string>("--adapter-form") { Description = "merged (extra neurons of the one fused sparse FFN) or unmerged (separate low-rank products)", DefaultValueFactory = _ => "merged" };
        adapterForm.AcceptOnlyFromAmong("merged", "unmerged");
        var decode = new Option<string>("--decode") { Description = "Decoding method: " + string.Join("; ", DecodingMethods.Names.Select(n => n)) + " (see README)", DefaultValueFactory = _ => "dense" };
        decode.AcceptOnlyFromAmong([.. DecodingMethods.Names]);
        var draftLength = new Option<int>("--draft-length") { Description = "speculative, judge: tokens drafted per verification pass (1..16)", DefaultValueFactory = _ => 8 };
        var kernelSize = new Option<int>("--kernel-size") { Description = "sirius: tokens decoded sparsely between dense correction passes (1..16)", DefaultValueFactory = _ => 16 };
        var threshold = new Option<double>("--threshold") { Description = "sirius: the full model's probability a sparse token needs to be kept, in (0, 1]", DefaultValueFactory = _ => 0.1 };
        var judge = new Option<string?>("--judge") { Description = "judge: a judge head file (from `caprese judge-train`) for this model" };
        var judgeThreshold = new Option<double>("--judge-threshold") { Description = "judge: the head's probability above which a rejected draft is kept, in [0, 1)", DefaultValueFactory = _ => 0.5 };
        draftLength.Validators.Add(r => { int v = r.GetValueOrDefault<int>(); if (v < 1 || v > DraftVerifyDecoding.MaxDraftLength) r.AddError($"--draft-length must be in 1..{DraftVerifyDecoding.MaxDraftLength}"); });
        kernelSize.Validators.Add(r => { int v = r.GetValueOrDefault<int>(); if (v < 1 || v > DraftVerifyDecoding.MaxDraftLength) r.AddError($"--kernel-size must be in 1..{DraftVerifyDecoding.MaxDraftLength}"); });
        threshold.Validators.Add(r => { double v = r.GetValueOrDefault<double>(); if (!(v > 0 && v <= 1)) r.AddError("--threshold must be in (0, 1]"); });
        judgeThreshold.Validators.Add(r => { double v = r.GetValueOrDefault<double>(); if (!(v >= 0 && v < 1)) r.AddError("--judge-threshold must be in [0, 1)"); });
        var calibration = new Option<string?>("--calibration") { Description = "cats or teal: fixed thresholds calibrated once on this text (paragraphs separated by blank lines, or .jsonl with \"text\"/\"question\") instead of on the prompt's prefill" };

        maxTokens.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 0) r.AddError("--max-tokens must be >= 0"); });
        temperature.Validators.Add(r => { float t = r.GetValueOrDefault<float>(); if (!(t >= 0) || float.IsInfinity(t)) r.AddError("--temperature must be a finite value >= 0"); });
        topK.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 0) r.AddError("--top-k must be >= 0"); });
        topP.Validators.Add(r => { float p = r.GetValueOrDefault<float>(); if (!(p > 0 && p <= 1)) r.AddError("--top-p must be in (0, 1]"); });
        context.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 0) r.AddError("--context must be >= 0"); });
        sparsity.Validators.Add(r => { double v = r.GetValueOrDefault<double>(); if (!(v >= 0 && v < 1)) r.AddError("--sparsity must be in [0, 1)"); });
        stop.Validators.Add(r => { if (r.GetValueOrDefault<string[]>()?.Any(string.IsNullOrEmpty) == true) r.AddError("--stop needs a non-empty string"); });

        var command = new Command("generate", "Generate text from a prompt")
        {
            model, prompt, backend.Backend, backend.Device, weights, maxTokens, temperature, topK, topP, seed, stop, context, backend.Threads,
            sparsityMethod, sparsity, sparseLayers, adapter, adapterForm, calibration,
            decode, draftLength, kernelSize, threshold, judge, judgeThreshold,
        };
        command.Validators.Add(r =>
        {
            // Options of one decoding method given with another are mistakes, not silently ignored.
            // The raw tokens: an unknown value is reported by the option's own validator and must not throw here.
            string method = r.GetResult(decode)?.Tokens.LastOrDefault()?.Value ?? "dense";
            if (!DecodingMethods.Names.Contains(method))
                return;
            void Only(Option option, params string[] methods)
            {
                if (r.GetResult(option) is { Implicit: false } && !methods.Contains(method))
                    r.AddError($"{option.Name} applies to --decode {string.Join(" or ", methods)}, not {method}");
            }
            Only(draftLength, "speculative", "judge");
            Only(kernelSize, "sirius");
            Only(threshold, "sirius");
            Only(judge, "judge");
            Only(judgeThreshold, "judge");
            if (method == "judge" && r.GetResult(judge) is null)
                r.AddError("--decode judge needs --judge FILE (train one with `caprese judge-train`)");
            if (method != "dense" && (r.GetResult(sparsityMethod)?.Tokens.LastOrDefault()?.Value ?? "none") == "none" && r.GetResult(adapter) is null)
                r.AddError($"--decode {method} drafts with a sparse model: give --sparsity-method (griffin, cats) or --adapter");
        });
        command.SetAction((parse, ct) => RunAsync(new Request(
            parse.GetValue(model) ?? DefaultModel.Path,
            parse.GetValue(prompt)!,
            backend.LoadOptions(parse) with
            {
                WeightType = CommandFailures.ParseWeights(parse.GetValue(weights)!),
                ContextLength = parse.GetValue(context),
            },
            new GenerationOptions(parse.GetValue(maxTokens), parse.GetValue(temperature), parse.GetValue(topK), parse.GetValue(topP), parse.GetValue(seed),
                parse.GetValue(stop) is { Length: > 0 } stops ? stops : null),
            new SparsityRequest(parse.GetValue(sparsityMethod)!, parse.GetValue(sparsity), parse.GetValue(sparseLayers),
                parse.GetResult(sparsityMethod) is { Implicit: false }),
            parse.GetValue(adapter), parse.GetValue(adapterForm) == "unmerged" ? AdapterForm.Unmerged : AdapterForm.Merged,
            parse.GetValue(calibration),
            new DecodingRequest(parse.GetValue(decode)!, parse.GetValue(draftLength), parse.GetValue(kernelSize), parse.GetValue(threshold),
                parse.GetValue(judge), parse.GetValue(judgeThreshold))), ct));
        return command;
    }

    private sealed record Request(string ModelPath, string Prompt, ModelLoadOptions Load, GenerationOptions Options, SparsityRequest Sparsity,
        string? AdapterPath, AdapterForm AdapterForm, string? CalibrationPath, DecodingRequest Decoding);

    /// <summary>The decoding flags; the judge head is checked against the model, so it loads after the model.</summary>
    private sealed record DecodingRequest(string Method, int DraftLength, int KernelSize, double Threshold, string? JudgePath, double JudgeThreshold)
    {
        public IDecodingMethod Resolve(LoadedModel loaded)
        {
            JudgeHead? head = JudgePath is { } path
                ? JudgeHeadFile.Load(path, ModelFingerprint.Compute(loaded.Model), loaded.Config.Dim).Head
                : null;
            return DecodingMethods.Create(new DecodingOptions(Method, DraftLength, KernelSize, Threshold, head, JudgeThreshold));
        }
    }

    /// <summary>The sparsity flags; the layer range needs the model's layer count, so it resolves after loading.</summary>
    private sealed record SparsityRequest(string Method, double Sparsity, string? Layers, bool Explicit)
    {
        public SparsityOptions Resolve(int layers) => SparsityArguments.Parse(Method, Sparsity, Layers, layers);
    }

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
                var sparsity = request.Sparsity.Resolve(loaded.Config.Layers);
                if (request.AdapterPath is { } adapterPath)
                {
                    // The file is checked against this model (fingerprint, shapes) before anything runs.
                    var adapters = AdapterFile.Load(adapterPath, loaded.Model).Adapters;
                    var adapted = await CalibrateAsync(loaded, request.Sparsity.Explicit ? sparsity : adapters.Sparsity, request.CalibrationPath);
                    if (adapters.MismatchWith(loaded.Config, adapted) is { } problem)
                        throw new ArgumentException(problem);
                    policy = new FfnPolicy(adapted, adapters, request.AdapterForm);
                }
                else
                {
                    policy = new FfnPolicy(await CalibrateAsync(loaded, sparsity, request.CalibrationPath));
                }
                // The generator's session is the only one: no built-in session (and second KV cache) is made.
                generator = new TextGenerator(loaded.Model, loaded.Tokenizer, policy);
                options = request.Options with { Decoding = request.Decoding.Resolve(loaded) };
            }
            catch (CalibrationException ex)
            {
                await stderr.WriteLineAsync($"error: {ex.Message}");
                return ExitCodes.BadArguments;
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
                $"[prompt tokens: {s.PromptTokenCount}, generated tokens: {s.GeneratedTokenCount}, prefill: {s.PrefillMilliseconds:F2} ms, decode: {s.DecodeTokensPerSecond:F1} tokens/s, backend: {BackendArguments.Describe(loaded.Backend)}, weights: {request.Load.WeightType.ToString().ToLowerInvariant()}, stop: {s.StopReason}{Describe(policy.Sparsity, loaded.Config.Layers)}{(policy.Adapters is { } a ? $", caprese adapters: rank {a.Rank}, {policy.AdapterForm.ToString().ToLowerInvariant()}" : "")}{DescribeDecoding(options.Decoding, s, loaded, policy)}]"));
            return ExitCodes.Ok;
        }
    }

    /// <summary>
    /// <paramref name="options"/> with thresholds calibrated on the file (none: unchanged). Only CATS and TEAL take one;
    /// GRIFFIN's selection is per prompt by definition.
    /// </summary>
    private static async Task<SparsityOptions> CalibrateAsync(LoadedModel loaded, SparsityOptions options, string? path)
    {
        if (path is null)
            return options;
        if (options.Method is not (SparsityMethod.Cats or SparsityMethod.Teal))
            throw new CalibrationException(options.Method == SparsityMethod.Griffin
                ? "--calibration does not apply to griffin: GRIFFIN selects its neurons from each prompt's own prefill (use --sparsity-method cats or teal)"
                : "--calibration needs --sparsity-method cats or teal");
        try
        {
            var calibration = CalibrationText.Calibrate(loaded.Model, loaded.Tokenizer, path, options);
            await Console.Error.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"calibrated {options.Method.ToString().ToLowerInvariant()} on {path}: {calibration.SequenceCount} samples, {calibration.TotalRows} tokens, {calibration.RowCount} rows per layer"));
            return options with { Calibration = calibration };
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidDataException or IOException or UnauthorizedAccessException)
        {
            throw new CalibrationException($"--calibration {path}: {ex.Message}", ex);
        }
    }

    private sealed class CalibrationException(string message, Exception? inner = null) : Exception(message, inner);

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
