using System.CommandLine;
using System.Globalization;
using Caprese.Cli.Training;
using Caprese.Models;
using Caprese.Models.Adapters;
using Caprese.Models.Decoding.Judge;
using Caprese.Models.Loading;
using Caprese.Models.MathReasoning;
using Caprese.Models.Sessions;
using Caprese.Models.Sparsity;
using Caprese.Models.Training.Corpus;

namespace Caprese.Cli.Commands;

/// <summary>
/// `caprese judge-train`: trains a judge head (judge decoding, METHODS.md seed 003) on the dense model's hidden states,
/// from a JSONL file of (prompt, good, bad) triples or from triples the draft makes itself (dense greedy text = good,
/// the draft's deviating greedy text = bad), or from math problems whose draft deviations an arithmetic checker labels
/// (<see cref="AutomaticJudgeLabeler"/>: a deviation is acceptable when continuing from it still reaches the reference
/// answer), and writes it bound to the model's fingerprint. Triples (or problems) are split into a training and a
/// held-out part before labelling, so no held-out example shares a sequence with a training one.
/// </summary>
internal static class JudgeTrainCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "Model path (as for generate); default: the embedded stories260K" };
        var backend = new BackendArguments();
        var output = new Option<string>("--out", "-o") { Description = "Judge head file to write (safetensors; written whole or not at all)", Required = true };
        var triples = new Option<string?>("--triples") { Description = "JSONL file, one {\"prompt\", \"good\", \"bad\"} object a line (answers are tokenized on their own, after the prompt)" };
        var fromDraft = new Option<bool>("--from-draft") { Description = "Make the triples from the draft instead: good = the dense model's greedy continuation, bad = the draft's when it deviates (teaches \"the draft's deviations are bad\")" };
        var problems = new Option<string?>("--problems") { Description = "JSONL math problems ({\"question\", \"answer\"}, answer ending in \"#### N\"): label the draft's deviations by whether the dense model, continuing from each, still reaches N" };
        var promptFormat = new Option<string?>("--prompt-format") { Description = $"--problems: how a question becomes a prompt (default qa): {MathPromptFormats.Describe()}" };
        promptFormat.AcceptOnlyFromAmong([.. MathPromptFormats.Names]);
        var limit = new Option<int?>("--limit") { Description = "--problems: use the first N problems of the file (default: all)" };
        var sequences = new Option<int>("--sequences") { Description = "--from-draft: prompts to try (built-in story openings extended by sampled text)", DefaultValueFactory = _ => 64 };
        var tokens = new Option<int>("--tokens") { Description = "--from-draft: tokens per greedy continuation; --problems: the answer budget (tokens after the prompt)", DefaultValueFactory = _ => 32 };
        var sparsityMethod = new Option<string>("--sparsity-method") { Description = "--from-draft, --problems: the draft's sparsity, griffin or cats (default griffin, or the adapter's)" };
        sparsityMethod.AcceptOnlyFromAmong(SparsityArguments.AdapterMethods);
        var sparsity = new Option<double>("--sparsity") { Description = "--from-draft, --problems: fraction of FFN neurons the draft skips, in [0, 1)", DefaultValueFactory = _ => 0.5 };
        var sparseLayers = new Option<string?>("--sparse-layers") { Description = "--from-draft, --problems: all or first-half (default: first-half for griffin, all for cats)" };
        sparseLayers.AcceptOnlyFromAmong(SparsityArguments.LayerChoices);
        var adapter = new Option<string?>("--adapter") { Description = "--from-draft, --problems: Caprese adapter file: the draft is the sparse model with these adapters (its sparsity unless --sparsity-method is given)" };
        var epochs = new Option<int>("--epochs") { Description = "Training passes over the examples", DefaultValueFactory = _ => 100 };
        var learningRate = new Option<double>("--learning-rate") { Description = "Adam step size", DefaultValueFactory = _ => 0.01 };
        var seed = new Option<int>("--seed", "-s") { Description = "Seed of the prompts, the split and the shuffles", DefaultValueFactory = _ => 0 };
        var positiveWeight = new Option<double?>("--positive-weight") { Description = "Weight of an acceptable example relative to an unacceptable one (default: inverse class frequency)" };
        var validation = new Option<double>("--validation-fraction") { Description = "Fraction of the triples held out for the accuracy check, in [0, 1)", DefaultValueFactory = _ => 0.2 };

        foreach (var o in new[] { sequences, tokens, epochs })
            o.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 1) r.AddError($"{o.Name} must be >= 1"); });
        sparsity.Validators.Add(r => { double v = r.GetValueOrDefault<double>(); if (!(v >= 0 && v < 1)) r.AddError("--sparsity must be in [0, 1)"); });
        learningRate.Validators.Add(r => { double v = r.GetValueOrDefault<double>(); if (!(v > 0 && double.IsFinite(v))) r.AddError("--learning-rate must be a finite value > 0"); });
        positiveWeight.Validators.Add(r => { if (r.GetValueOrDefault<double?>() is { } v && !(v > 0 && double.IsFinite(v))) r.AddError("--positive-weight must be a finite value > 0"); });
        limit.Validators.Add(r => { if (r.GetValueOrDefault<int?>() is < 1) r.AddError("--limit must be >= 1"); });
        validation.Validators.Add(r => { double v = r.GetValueOrDefault<double>(); if (!(v >= 0 && v < 1)) r.AddError("--validation-fraction must be in [0, 1)"); });

        var command = new Command("judge-train",
            "Train a judge head for judge decoding from (prompt, good, bad) triples, from the draft's deviations, or from math problems " +
            "whose draft deviations an arithmetic checker labels. " +
            "Exit codes: 1 bad arguments or input (missing or malformed --triples or --problems file, no deviations, one class only), " +
            "2 backend unavailable, 3 unusable model or adapter file (wrong model included), 130 interrupted (nothing written)")
        {
            model, output, triples, fromDraft, problems, promptFormat, limit, sequences, tokens, sparsityMethod, sparsity, sparseLayers, adapter,
            epochs, learningRate, seed, positiveWeight, validation,
        };
        foreach (var o in backend.All)
            command.Options.Add(o);
        command.SetAction((parse, ct) => RunAsync(new Request(
            parse.GetValue(model) ?? DefaultModel.Path,
            backend.LoadOptions(parse),
            parse.GetValue(output)!,
            parse.GetValue(triples),
            parse.GetValue(fromDraft),
            parse.GetValue(problems),
            parse.GetValue(promptFormat),
            parse.GetValue(limit),
            parse.GetValue(sequences),
            parse.GetValue(tokens),
            parse.GetValue(sparsityMethod),
            parse.GetValue(sparsity),
            parse.GetValue(sparseLayers),
            parse.GetValue(adapter),
            new JudgeTrainingOptions(Epochs: parse.GetValue(epochs), LearningRate: parse.GetValue(learningRate), Seed: parse.GetValue(seed),
                PositiveWeight: parse.GetValue(positiveWeight)),
            parse.GetValue(validation)), ct));
        return command;
    }

    private sealed record Request(string ModelPath, ModelLoadOptions Load, string Output, string? TriplesPath, bool FromDraft,
        string? ProblemsPath, string? PromptFormat, int? Limit, int Sequences, int Tokens, string? SparsityMethod, double Sparsity, string? SparseLayers, string? AdapterPath,
        JudgeTrainingOptions Training, double ValidationFraction);

    /// <summary>A failure that is the user's input, reported as one "error:" line with its exit code.</summary>
    private sealed class InputException(string message, int exitCode) : Exception(message)
    {
        public int ExitCode { get; } = exitCode;
    }

    private static async Task<int> RunAsync(Request request, CancellationToken ct)
    {
        var stderr = Console.Error;
        int sources = (request.TriplesPath is not null ? 1 : 0) + (request.FromDraft ? 1 : 0) + (request.ProblemsPath is not null ? 1 : 0);
        if (sources != 1)
        {
            await stderr.WriteLineAsync(sources > 1
                ? "error: give one of --triples FILE, --from-draft and --problems FILE, not several"
                : "error: give the training triples: --triples FILE (JSONL of prompt/good/bad), --from-draft, or --problems FILE (JSONL math problems)");
            return ExitCodes.BadArguments;
        }
        if (request.TriplesPath is not null && (request.AdapterPath is not null || request.SparsityMethod is not null))
        {
            await stderr.WriteLineAsync("error: --sparsity-method and --adapter choose the draft of --from-draft or --problems; with --triples the file gives the answers");
            return ExitCodes.BadArguments;
        }
        if (request.ProblemsPath is null && (request.PromptFormat is not null || request.Limit is not null))
        {
            await stderr.WriteLineAsync("error: --prompt-format and --limit choose the prompts of --problems");
            return ExitCodes.BadArguments;
        }

        // A malformed triples file fails before the model is loaded.
        IReadOnlyList<JudgeTriple>? textTriples = null;
        if (request.TriplesPath is { } triplesPath)
        {
            try
            {
                textTriples = JudgeTripleFile.Read(triplesPath);
            }
            catch (Exception ex) when (ex is JudgeTripleFileException or FileNotFoundException or DirectoryNotFoundException
                or UnauthorizedAccessException or IOException)
            {
                await stderr.WriteLineAsync($"error: {(ex is JudgeTripleFileException ? "" : "--triples: ")}{ex.Message}");
                return ExitCodes.BadArguments;
            }
            if (textTriples.Count == 0)
            {
                await stderr.WriteLineAsync($"error: {Path.GetFullPath(triplesPath)}: no triples");
                return ExitCodes.BadArguments;
            }
        }

        // So does a malformed problems file.
        ArithmeticAnswerChecker? checker = null;
        if (request.ProblemsPath is { } problemsPath)
        {
            try
            {
                var selected = MathProblemFile.Read(problemsPath).Take(request.Limit ?? int.MaxValue).ToList();
                if (selected.Count == 0)
                {
                    await stderr.WriteLineAsync($"error: {Path.GetFullPath(problemsPath)}: no problems");
                    return ExitCodes.BadArguments;
                }
                checker = new ArithmeticAnswerChecker(selected, MathPromptFormats.Get(request.PromptFormat ?? MathPromptFormats.Qa.Name));
            }
            catch (Exception ex) when (ex is InvalidDataException or ArgumentException or FileNotFoundException or DirectoryNotFoundException
                or UnauthorizedAccessException or IOException)
            {
                await stderr.WriteLineAsync($"error: {(ex is InvalidDataException ? "" : "--problems: ")}{WithoutParameterName(ex)}");
                return ExitCodes.BadArguments;
            }
        }

        var (loaded, code) = await ModelOpener.OpenAsync(request.ModelPath, request.Load, needTokenizer: true, ct);
        if (loaded is null)
            return code;
        using (loaded)
        {
            var bar = new ConsoleProgressBar();
            try
            {
                if (checker is not null)
                    return await TrainAndSaveAsync(loaded, request, await ProblemExamplesAsync(loaded, request, checker, bar, ct), bar, ct);
                var (triples, source) = textTriples is not null
                    ? (textTriples.Select(t => JudgeDataset.Tokenize(t, loaded.Tokenizer)).ToList(), $"triples:{Path.GetFileName(request.TriplesPath)}")
                    : await DraftTriplesAsync(loaded, request, bar, ct);
                return await TrainAndSaveAsync(loaded, request, TripleExamples(loaded, request, triples, source, bar, ct), bar, ct);
            }
            catch (OperationCanceledException)
            {
                bar.Finish();
                await stderr.WriteLineAsync("interrupted; no judge head was written");
                return ExitCodes.Cancelled;
            }
            catch (InputException ex)
            {
                bar.Finish();
                await stderr.WriteLineAsync($"error: {ex.Message}");
                return ex.ExitCode;
            }
            catch (Exception ex) when (ex is ModelFormatException or AdapterMismatchException)
            {
                bar.Finish();
                await stderr.WriteLineAsync($"error: {ex.Message}");
                return ExitCodes.BadModel;
            }
            catch (Exception ex) when (ex is ArgumentException or InvalidDataException or FileNotFoundException or DirectoryNotFoundException
                or UnauthorizedAccessException or IOException)
            {
                bar.Finish();
                await stderr.WriteLineAsync($"error: {WithoutParameterName(ex)}");
                return ExitCodes.BadArguments;
            }
        }
    }

    /// <summary>Triples from the draft over prompts the dense model extends from the built-in story openings.</summary>
    private static async Task<(List<JudgeTokenTriple> Triples, string Source)> DraftTriplesAsync(LoadedModel loaded, Request request,
        ConsoleProgressBar bar, CancellationToken ct)
    {
        var draft = DraftPolicy(loaded, request);
        var tokenizer = loaded.Tokenizer;
        // Openings extended by sampled text: many distinct prompts from a short list, the same ones for a seed.
        var openings = RecoveryReport.Prompts.Select(p => tokenizer.Encode(p, addBos: true)).ToList();
        int promptTokens = openings.Max(o => o.Length) + 6;
        var corpus = SyntheticCorpus.Generate(loaded.Model,
            new SyntheticCorpusOptions(request.Sequences, promptTokens, ContinuationTokens: 1, Seed: request.Training.Seed,
                StartPrompts: openings, EndTokens: tokenizer.EosIds),
            new SynchronousProgress<int>(n => bar.Report("prompts", n, request.Sequences, "dense model sampling")), ct);
        bar.Finish();
        string describe = draft.Describe(loaded.Config.Layers);
        await Console.Error.WriteLineAsync($"draft: {describe}; {corpus.Count} prompts, {request.Tokens}-token greedy continuations");
        using var source = new DraftTripleSource(loaded.Model, draft, request.Tokens, tokenizer.EosIds);
        var triples = source.FromPrompts(corpus.Select(s => s.Prompt),
            new SynchronousProgress<int>(n => bar.Report("draft", n, corpus.Count, "dense and draft greedy continuations")), ct);
        bar.Finish();
        if (triples.Count == 0)
            throw new InputException($"the draft ({describe}) never deviated from the dense model on {corpus.Count} prompts of {request.Tokens} tokens: " +
                "nothing to learn (raise --sparsity, --tokens or --sequences)", ExitCodes.BadArguments);
        await Console.Error.WriteLineAsync($"draft deviated on {triples.Count} of {corpus.Count} prompts");
        return (triples, $"draft:{describe}:{corpus.Count}x{request.Tokens}:seed{request.Training.Seed}");
    }

    /// <summary>The draft: the sparsity flags, or an adapter file's sparsity (checked against this model) with its adapters.</summary>
    private static FfnPolicy DraftPolicy(LoadedModel loaded, Request request)
    {
        int layers = loaded.Config.Layers;
        var flags = SparsityArguments.Parse(request.SparsityMethod ?? "griffin", request.Sparsity, request.SparseLayers, layers);
        if (request.AdapterPath is not { } path)
            return new FfnPolicy(flags);
        AdapterSet adapters;
        try
        {
            // Checked against this model (fingerprint, shapes) before anything runs.
            adapters = AdapterFile.Load(path, loaded.Model).Adapters;
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException or IOException)
        {
            throw new InputException($"--adapter: {ex.Message}", ExitCodes.BadModel);
        }
        var policy = new FfnPolicy(request.SparsityMethod is null ? adapters.Sparsity : flags, adapters);
        try
        {
            policy.Validate(loaded.Config);
        }
        catch (ArgumentException ex)
        {
            throw new InputException($"--adapter {path}: {WithoutParameterName(ex)}", ExitCodes.BadModel);
        }
        return policy;
    }

    /// <summary>
    /// Labelled examples split by sequence: <paramref name="Unit"/> names what was split ("triples", "problems"),
    /// <paramref name="Report"/> holds extra stdout lines about how they were labelled, <paramref name="Metadata"/> extra
    /// head-file entries.
    /// </summary>
    private sealed record Examples(List<JudgeExample> Train, List<JudgeExample> Held, string Unit, int TrainUnits, int HeldUnits,
        string Source, string OneClassHint, IReadOnlyList<string> Report, IReadOnlyDictionary<string, string> Metadata);

    /// <summary>Examples from token triples: split, then labelled with the dense model's hidden states.</summary>
    private static Examples TripleExamples(LoadedModel loaded, Request request, List<JudgeTokenTriple> triples, string source,
        ConsoleProgressBar bar, CancellationToken ct)
    {
        var (train, held) = Split(triples, request.ValidationFraction, request.Training.Seed);
        List<JudgeExample> trainExamples, heldExamples;
        using (var session = loaded.Model.CreateSession(FfnPolicy.Dense))
        {
            trainExamples = JudgeDataset.Examples(train, session,
                new SynchronousProgress<int>(n => bar.Report("label", n, triples.Count, "dense hidden states")), ct);
            heldExamples = JudgeDataset.Examples(held, session,
                new SynchronousProgress<int>(n => bar.Report("label", train.Count + n, triples.Count, "dense hidden states")), ct);
        }
        bar.Finish();
        return new Examples(trainExamples, heldExamples, "triples", train.Count, held.Count, source,
            "a bad answer that is a prefix of the good one has no unacceptable token", [], new Dictionary<string, string>());
    }

    /// <summary>
    /// Examples from math problems: split by problem, then each part labelled by <see cref="AutomaticJudgeLabeler"/> with
    /// the arithmetic checker, the draft chosen as for --from-draft.
    /// </summary>
    private static async Task<Examples> ProblemExamplesAsync(LoadedModel loaded, Request request, ArithmeticAnswerChecker checker,
        ConsoleProgressBar bar, CancellationToken ct)
    {
        var draft = DraftPolicy(loaded, request);
        string describe = draft.Describe(loaded.Config.Layers);
        string format = MathPromptFormats.Get(request.PromptFormat ?? MathPromptFormats.Qa.Name).Name;
        var prompts = checker.Prompts;
        var (train, held) = Split(prompts.ToList(), request.ValidationFraction, request.Training.Seed);
        await Console.Error.WriteLineAsync($"draft: {describe}; {prompts.Count} problems ({format} prompts), answers of {request.Tokens} tokens at most");
        var options = new AutomaticLabelingOptions(ContinuationTokens: request.Tokens);
        var labeler = new AutomaticJudgeLabeler(loaded.Model, loaded.Tokenizer, draft, checker, options);
        var trainLabels = labeler.Label(train,
            new SynchronousProgress<int>(n => bar.Report("label", n, prompts.Count, "draft walks, checked deviations")), ct);
        var heldLabels = labeler.Label(held,
            new SynchronousProgress<int>(n => bar.Report("label", train.Count + n, prompts.Count, "draft walks, checked deviations")), ct);
        bar.Finish();

        var deviations = trainLabels.Deviations.Concat(heldLabels.Deviations).ToList();
        int acceptable = deviations.Count(d => d.Acceptable);
        int agreeing = trainLabels.AgreeingTokens + heldLabels.AgreeingTokens;
        int cutShort = trainLabels.PromptsCutShort + heldLabels.PromptsCutShort;
        if (deviations.Count == 0)
            throw new InputException($"the draft ({describe}) never deviated from the dense model on {prompts.Count} problems of {request.Tokens} answer tokens: " +
                "nothing to learn (raise --sparsity or --tokens, or give more problems)", ExitCodes.BadArguments);
        var inv = CultureInfo.InvariantCulture;
        string summary = string.Create(inv, $"{deviations.Count} labelled, {acceptable} acceptable, {deviations.Count - acceptable} unacceptable");
        var report = new List<string>
        {
            $"deviations: {summary} (arithmetic checker; " +
            string.Create(inv, $"{agreeing} drafted tokens agreed with the dense model and count as acceptable; ") +
            string.Create(inv, $"{cutShort} problems stopped at {options.MaxDeviationsPerPrompt} deviations)"),
        };
        string file = Path.GetFileName(request.ProblemsPath)!;
        return new Examples(trainLabels.Examples.ToList(), heldLabels.Examples.ToList(), "problems", train.Count, held.Count,
            string.Create(inv, $"problems:{file}:{format}:draft:{describe}:{prompts.Count}x{request.Tokens}:seed{request.Training.Seed}"),
            "the checker judged every deviation alike, and the draft agreed nowhere else",
            report, new Dictionary<string, string> { ["deviations"] = summary });
    }

    private static async Task<int> TrainAndSaveAsync(LoadedModel loaded, Request request, Examples examples, ConsoleProgressBar bar, CancellationToken ct)
    {
        var stdout = Console.Out;
        var (trainExamples, heldExamples) = (examples.Train, examples.Held);
        int trainBad = trainExamples.Count(e => !e.Acceptable), trainGood = trainExamples.Count - trainBad;
        if (trainBad == 0 || trainGood == 0)
            throw new InputException($"the {examples.TrainUnits} training {examples.Unit} give {trainGood} acceptable and {trainBad} unacceptable examples; " +
                $"the judge needs both ({examples.OneClassHint})", ExitCodes.BadArguments);

        var result = JudgeTrainer.Train(trainExamples, request.Training,
            new SynchronousProgress<JudgeTrainingProgress>(p => bar.Report("train", p.Epoch, p.Epochs, FormattableString.Invariant($"loss {p.Loss:F4}"))), ct);
        bar.Finish();
        var (heldGood, heldBad, heldGoodAccuracy, heldBadAccuracy) = Accuracy(result.Head, heldExamples);

        var inv = CultureInfo.InvariantCulture;
        var metadata = new Dictionary<string, string>
        {
            ["source"] = examples.Source,
            [examples.Unit] = string.Create(inv, $"{examples.TrainUnits} training, {examples.HeldUnits} held out"),
            ["examples"] = string.Create(inv, $"{trainGood} acceptable, {trainBad} unacceptable"),
            ["epochs"] = request.Training.Epochs.ToString(inv),
            ["learning_rate"] = request.Training.LearningRate.ToString("R", inv),
            ["seed"] = request.Training.Seed.ToString(inv),
            ["class_weights"] = string.Create(inv, $"acceptable {result.PositiveWeight:G4}, unacceptable {result.NegativeWeight:G4}"),
            ["train_accuracy"] = string.Create(inv, $"acceptable {result.AcceptableAccuracy:F4}, unacceptable {result.UnacceptableAccuracy:F4}"),
            ["backend"] = BackendArguments.Name(loaded.Backend),
        };
        foreach (var (key, value) in examples.Metadata)
            metadata[key] = value;
        if (heldExamples.Count > 0)
            metadata["held_out_accuracy"] = string.Create(inv, $"acceptable {heldGoodAccuracy:F4}, unacceptable {heldBadAccuracy:F4}");
        ct.ThrowIfCancellationRequested();
        string full = Path.GetFullPath(request.Output);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        JudgeHeadFile.Save(full, result.Head, ModelFingerprint.Compute(loaded.Model), metadata);

        await stdout.WriteLineAsync($"judge head: {full}");
        await stdout.WriteLineAsync(string.Create(inv,
            $"{examples.Unit}: {examples.TrainUnits} training, {examples.HeldUnits} held out ({examples.Source})"));
        foreach (string line in examples.Report)
            await stdout.WriteLineAsync(line);
        await stdout.WriteLineAsync(string.Create(inv,
            $"training examples: {trainGood} acceptable, {trainBad} unacceptable; class weights: acceptable {result.PositiveWeight:G4}, unacceptable {result.NegativeWeight:G4}"));
        await stdout.WriteLineAsync(string.Create(inv,
            $"training accuracy: acceptable {result.AcceptableAccuracy * 100:F1}%, unacceptable {result.UnacceptableAccuracy * 100:F1}% (final loss {result.FinalLoss:F4}, {result.Steps} steps)"));
        if (heldExamples.Count > 0)
            await stdout.WriteLineAsync(string.Create(inv,
                $"held-out accuracy: acceptable {Percent(heldGoodAccuracy)} of {heldGood}, unacceptable {Percent(heldBadAccuracy)} of {heldBad}"));
        else
            await stdout.WriteLineAsync($"held-out accuracy: no held-out examples (--validation-fraction 0 or a single {examples.Unit[..^1]})");
        return ExitCodes.Ok;
    }

    /// <summary>Held-out triples (or prompts): a seeded random <paramref name="fraction"/> of them (at least one when the fraction is positive, never all).</summary>
    private static (List<T> Train, List<T> HeldOut) Split<T>(List<T> triples, double fraction, int seed)
    {
        int held = fraction <= 0 || triples.Count < 2 ? 0 : Math.Clamp((int)Math.Round(fraction * triples.Count), 1, triples.Count - 1);
        var order = Enumerable.Range(0, triples.Count).ToArray();
        new Random(seed).Shuffle(order);
        var heldOut = order.Take(held).Order().Select(i => triples[i]).ToList();
        var train = order.Skip(held).Order().Select(i => triples[i]).ToList();
        return (train, heldOut);
    }

    private static (int Good, int Bad, double GoodAccuracy, double BadAccuracy) Accuracy(JudgeHead head, List<JudgeExample> examples)
    {
        int good = 0, bad = 0, goodRight = 0, badRight = 0;
        foreach (var e in examples)
        {
            bool accepts = head.Logit(e.Hidden) > 0;
            if (e.Acceptable)
            {
                good++;
                goodRight += accepts ? 1 : 0;
            }
            else
            {
                bad++;
                badRight += accepts ? 0 : 1;
            }
        }
        return (good, bad, good > 0 ? (double)goodRight / good : double.NaN, bad > 0 ? (double)badRight / bad : double.NaN);
    }

    private static string Percent(double fraction) =>
        double.IsNaN(fraction) ? "n/a" : (fraction * 100).ToString("F1", CultureInfo.InvariantCulture) + "%";

    // ArgumentException appends " (Parameter 'x')", which names a C# parameter, not anything the user typed.
    private static string WithoutParameterName(Exception ex) =>
        ex is ArgumentException { ParamName: { } name } ? ex.Message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal) : ex.Message;
}
