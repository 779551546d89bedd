using Caprese.Models.Formats;
using System.CommandLine;
using Caprese.Cli.Training;
using Caprese.Models;
using Caprese.Models.MathReasoning;

namespace Caprese.Cli.Commands;

/// <summary>
/// `caprese eval-math`: accuracy on math word problems (GSM8K-shaped JSONL) with any decode policy (dense, sparse,
/// Caprese adapters) and decoding method, with what it cost: tokens, decode speed, dense passes and FFN parameters per
/// token. A summary table on stdout; configuration, summary and every problem's record in --json.
/// </summary>
internal static class EvalMathCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "Model path (as for generate); default: the embedded stories260K" };
        var data = new Option<string>("--data") { Description = "Problems: JSONL of {\"question\", \"answer\"} with the answer ending in \"#### N\" (e.g. GSM8K's test.jsonl)", Required = true };
        var format = new Option<string>("--prompt-format") { Description = "How a question is prompted: " + MathPromptFormats.Describe().Replace(Environment.NewLine, "; "), DefaultValueFactory = _ => MathPromptFormats.Qa.Name };
        format.AcceptOnlyFromAmong([.. MathPromptFormats.Names]);
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "Tokens generated per problem at most", DefaultValueFactory = _ => 256 };
        var limit = new Option<int?>("--limit") { Description = "Only the first N problems of the file" };
        var shard = new Option<string?>("--shard") { Description = "i/n: of the (limited) problems, those whose index mod n is i (0-based), so n runs partition them" };
        var backend = new BackendArguments();
        var weights = new Option<string>("--weights") { Description = CommandFailures.LoadWeightsDescription, DefaultValueFactory = _ => "stored" };
        weights.AcceptOnlyFromAmong(CommandFailures.LoadWeightNames);
        var context = new Option<int>("--context") { Description = $"KV-cache positions (0 = the model's context, at most {ModelLoadOptions.DefaultMaxContext})", DefaultValueFactory = _ => 0 };
        var sampling = new SamplingArguments();
        var policy = new PolicyArguments();
        var decoding = new DecodingArguments();
        var json = new Option<string?>("--json") { Description = "Also write configuration, summary and every problem's record as JSON (atomically)" };
        var markdown = new Option<string?>("--markdown", "--md") { Description = "Also write the summary as markdown (atomically)" };

        maxTokens.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 1) r.AddError("--max-tokens must be >= 1"); });
        limit.Validators.Add(r => { if (r.GetValueOrDefault<int?>() is < 1) r.AddError("--limit must be >= 1"); });
        shard.Validators.Add(r =>
        {
            try { ProblemSelection.ParseShard(r.GetValueOrDefault<string?>() ?? "0/1"); }
            catch (ArgumentException e) { r.AddError(e.Message); }
        });
        context.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 0) r.AddError("--context must be >= 0"); });

        var command = new Command("eval-math", "Accuracy on math word problems (GSM8K-style \"#### N\" answers) with a decode policy and decoding method, and its cost")
        {
            model, data, format, maxTokens, limit, shard, weights, context, json, markdown,
        };
        foreach (var o in backend.All.Concat(sampling.All).Concat(policy.All).Concat(decoding.All))
            command.Options.Add(o);
        decoding.AddValidators(command, policy);
        command.SetAction((parse, ct) =>
        {
            var (shardIndex, shardCount) = ProblemSelection.ParseShard(parse.GetValue(shard) ?? "0/1");
            return RunAsync(new EvalMathRequest(
                parse.GetValue(model) ?? DefaultModel.Path,
                parse.GetValue(data)!,
                backend.LoadOptions(parse) with
                {
                    WeightType = CommandFailures.ParseLoadWeights(parse.GetValue(weights)!),
                    ContextLength = parse.GetValue(context),
                },
                MathPromptFormats.Get(parse.GetValue(format)!), parse.GetValue(maxTokens),
                new ProblemSelection(parse.GetValue(limit), shardIndex, shardCount),
                parse.GetValue(sampling.Temperature), parse.GetValue(sampling.TopK), parse.GetValue(sampling.TopP), parse.GetValue(sampling.Seed),
                policy.Read(parse), decoding.Read(parse), parse.GetValue(json), parse.GetValue(markdown)), ct);
        });
        return command;
    }

    private static async Task<int> RunAsync(EvalMathRequest request, CancellationToken ct)
    {
        var stderr = Console.Error;
        // The data first: a malformed file is reported before a (possibly large) model loads.
        IReadOnlyList<MathProblem> problems;
        try
        {
            problems = MathProblemFile.Read(request.DataPath);
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            await stderr.WriteLineAsync($"error: --data: {ex.Message}");
            return ExitCodes.BadArguments;
        }
        int selected = request.Selection.Indices(problems.Count).Count;
        if (selected == 0)
        {
            await stderr.WriteLineAsync(problems.Count == 0
                ? $"error: --data {request.DataPath} holds no problems"
                : $"error: --shard {request.Selection.ShardIndex}/{request.Selection.ShardCount} selects none of the {(request.Selection.Limit is { } l && l < problems.Count ? $"first {l}" : problems.Count)} problems");
            return ExitCodes.BadArguments;
        }

        var (loaded, code) = await ModelOpener.OpenAsync(request.ModelPath, request.Load, needTokenizer: true, ct);
        if (loaded is null)
            return code;
        using (loaded)
        {
            MathEvaluator evaluator;
            Models.Sessions.FfnPolicy policy;
            try
            {
                policy = await request.Policy.ResolveAsync(loaded);
                evaluator = new MathEvaluator(loaded.Model, loaded.Tokenizer, policy, new MathEvaluationOptions(request.Format, request.MaxTokens,
                    request.Temperature, request.TopK, request.TopP, request.Seed) { Decoding = request.Decoding.Resolve(loaded) });
            }
            catch (Exception ex) when (CommandFailures.InputErrorCode(ex) is { } exit)
            {
                await stderr.WriteLineAsync($"error: {ex.Message}");
                return exit;
            }

            await stderr.WriteLineAsync($"{selected} of {problems.Count} problems, {request.Format.Name} prompts, up to {request.MaxTokens} tokens each; {policy.Describe(loaded.Config.Layers)}, decode {request.Decoding.Method}");
            var bar = new ConsoleProgressBar();
            MathEvaluation result;
            try
            {
                result = evaluator.Evaluate(problems, request.Selection,
                    new SynchronousProgress<MathEvaluationProgress>(p => bar.Report("eval", p.Done, p.Total, $"{p.Correct} correct")), ct);
            }
            catch (OperationCanceledException)
            {
                bar.Finish();
                await stderr.WriteLineAsync("cancelled");
                return ExitCodes.Cancelled;
            }
            catch (Exception ex) when (CommandFailures.Classify(ex, "try a smaller --context") is { } failure)
            {
                bar.Finish();
                await stderr.WriteLineAsync($"error: {failure.Message}");
                return failure.Code;
            }
            bar.Finish();

            var report = new EvalMathReport(EvalMathReport.Configure(request, loaded, policy, problems.Count), result);
            await Console.Out.WriteAsync(report.Markdown());
            if (request.MarkdownPath is { } md)
                AtomicFile.WriteAllText(md, report.Markdown());
            if (request.JsonPath is { } jsonPath)
                AtomicFile.WriteAllText(jsonPath, report.Json());
            return ExitCodes.Ok;
        }
    }
}

/// <summary>What `caprese eval-math` was asked for.</summary>
internal sealed record EvalMathRequest(string ModelPath, string DataPath, ModelLoadOptions Load, MathPromptFormat Format, int MaxTokens,
    ProblemSelection Selection, float Temperature, int TopK, float TopP, int? Seed, PolicyArguments.Request Policy,
    DecodingArguments.Request Decoding, string? JsonPath, string? MarkdownPath);
