using System.CommandLine;
using System.Globalization;
using Caprese.Models;
using Caprese.Models.MathReasoning;
using Caprese.Models.Sparsity;
using Caprese.Models.Training.Corpus;
using Caprese.Models.Training.EndToEnd;
using Caprese.Models.Training.Pipeline;
using Caprese.Models.Training.Stage1;

namespace Caprese.Cli.Training;

/// <summary>The options `distill` and `demo` share: which sparsity, the adapter rank, the corpus, both stages' settings.</summary>
internal sealed class TrainingArguments
{
    public Option<string> Method { get; } = new("--sparsity-method") { Description = "griffin or cats", DefaultValueFactory = _ => "griffin" };
    public Option<double> Sparsity { get; } = new("--sparsity") { Description = "Fraction of FFN neurons skipped, in [0, 1)", DefaultValueFactory = _ => 0.5 };
    public Option<string?> Layers { get; } = new("--sparse-layers") { Description = "all or first-half (default: first-half for griffin, all for cats)" };
    public Option<int> Rank { get; } = new("--rank", "-r") { Description = "Adapter rank (0 = about 1% extra parameters)", DefaultValueFactory = _ => 0 };
    public Option<int> Samples { get; } = new("--samples") { Description = "Sequences the dense model generates for training (the paper: 20K)" };
    public Option<int> PromptTokens { get; } = new("--prompt-tokens") { Description = "Prompt length of each training sequence (dense prefill)", DefaultValueFactory = _ => 16 };
    public Option<int> ContinuationTokens { get; } = new("--continuation-tokens") { Description = "Continuation length of each generated sequence (the sparse decode positions)" };
    public Option<string?> Corpus { get; } = new("--corpus") { Description = "Train on a text file (samples separated by blank lines) or a JSONL file (\"question\" or \"text\") instead of generated text" };
    public Option<string?> Problems { get; } = new("--problems") { Description = "Train on math problems solved by the dense model itself (the paper's recipe): a JSONL file of {\"question\", \"answer\"}; each question, formatted by --prompt-format, is the prompt and the dense model's greedy answer (up to --continuation-tokens, ending at EOS) the continuation; --samples caps how many are used" };
    public Option<string> PromptFormat { get; } = new("--prompt-format") { Description = "--problems: how a question becomes a prompt (qa or instruct)", DefaultValueFactory = _ => "qa" };
    public Option<string?> Prefix { get; } = new("--prefix") { Description = "Text put before every corpus sample, e.g. \"Please reason step by step.\"" };
    public Option<double> HeldOut { get; } = new("--held-out") { Description = "Fraction of the corpus kept out of training for the held-out stage-2 loss", DefaultValueFactory = _ => 0.1 };
    public Option<int> Stage1Epochs { get; } = new("--stage1-epochs") { Description = "Stage-1 Adam epochs per layer (0 with --stage1-init rrr = the closed-form optimum alone)" };
    public Option<double> Stage1Lr { get; } = new("--stage1-lr") { Description = "Stage-1 peak learning rate" };
    public Option<int> Stage1Batch { get; } = new("--stage1-batch") { Description = "Stage-1 rows per step", DefaultValueFactory = _ => 128 };
    public Option<string> Stage1Init { get; } = new("--stage1-init") { Description = "paper (L random, R = 0) or rrr (the closed-form reduced-rank optimum)" };
    public Option<int> Stage2Epochs { get; } = new("--stage2-epochs") { Description = "Stage-2 end-to-end epochs (0 = stage 1 only)" };
    public Option<double> Stage2Lr { get; } = new("--stage2-lr") { Description = "Stage-2 peak learning rate" };
    public Option<int> Stage2Batch { get; } = new("--stage2-batch") { Description = "Stage-2 sequences per step", DefaultValueFactory = _ => 16 };
    public Option<int> Seed { get; } = new("--seed", "-s") { Description = "Seed of the corpus, the initialisation and the shuffles", DefaultValueFactory = _ => 0 };

    /// <summary>Defaults differ between `distill` (the paper's settings) and `demo` (a run that takes seconds).</summary>
    public TrainingArguments(Defaults defaults)
    {
        Samples.DefaultValueFactory = _ => defaults.Samples;
        ContinuationTokens.DefaultValueFactory = _ => defaults.ContinuationTokens;
        Stage1Epochs.DefaultValueFactory = _ => defaults.Stage1Epochs;
        Stage1Lr.DefaultValueFactory = _ => defaults.Stage1Lr;
        Stage1Init.DefaultValueFactory = _ => defaults.Stage1Init;
        Stage2Epochs.DefaultValueFactory = _ => defaults.Stage2Epochs;
        Stage2Lr.DefaultValueFactory = _ => defaults.Stage2Lr;
        Method.AcceptOnlyFromAmong(SparsityArguments.AdapterMethods);
        Layers.AcceptOnlyFromAmong(SparsityArguments.LayerChoices);
        Stage1Init.AcceptOnlyFromAmong("paper", "rrr");
        PromptFormat.AcceptOnlyFromAmong([.. MathPromptFormats.Names]);
        Sparsity.Validators.Add(r => { double v = r.GetValueOrDefault<double>(); if (!(v >= 0 && v < 1)) r.AddError("--sparsity must be in [0, 1)"); });
        HeldOut.Validators.Add(r => { double v = r.GetValueOrDefault<double>(); if (!(v >= 0 && v < 1)) r.AddError("--held-out must be in [0, 1)"); });
        foreach (var o in new[] { Rank, Stage1Epochs, Stage2Epochs })
            o.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 0) r.AddError($"{o.Name} must be >= 0"); });
        foreach (var o in new[] { Samples, PromptTokens, ContinuationTokens, Stage1Batch, Stage2Batch })
            o.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 1) r.AddError($"{o.Name} must be >= 1"); });
        foreach (var o in new[] { Stage1Lr, Stage2Lr })
            o.Validators.Add(r => { double v = r.GetValueOrDefault<double>(); if (!(v > 0 && double.IsFinite(v))) r.AddError($"{o.Name} must be a finite value > 0"); });
    }

    /// <summary>Options that contradict each other are errors (add to the command's validators).</summary>
    public void ValidateCombination(System.CommandLine.Parsing.CommandResult r)
    {
        bool problems = r.GetResult(Problems) is { Implicit: false };
        if (problems && r.GetResult(Corpus) is { Implicit: false })
            r.AddError("--problems and --corpus are two training corpora: give one");
        if (problems && r.GetResult(Prefix) is { Implicit: false })
            r.AddError("--prefix applies to --corpus; with --problems the prompt comes from --prompt-format");
        if (!problems && r.GetResult(PromptFormat) is { Implicit: false })
            r.AddError("--prompt-format applies only with --problems");
    }

    public sealed record Defaults(int Samples, int ContinuationTokens, int Stage1Epochs, double Stage1Lr, string Stage1Init, int Stage2Epochs, double Stage2Lr);

    public IEnumerable<Option> All => [Method, Sparsity, Layers, Rank, Samples, PromptTokens, ContinuationTokens, Corpus, Problems, PromptFormat, Prefix, HeldOut,
        Stage1Epochs, Stage1Lr, Stage1Batch, Stage1Init, Stage2Epochs, Stage2Lr, Stage2Batch, Seed];

    /// <param name="sparsity">Given by the command itself (then --sparsity-method, --sparse-layers and --rank are not read).</param>
    public DistillationOptions Options(ParseResult p, int layers, SparsityOptions? sparsity = null, int rank = 0)
    {
        if (sparsity is null)
        {
            sparsity = SparsityArguments.Parse(p.GetValue(Method)!, p.GetValue(Sparsity), p.GetValue(Layers), layers);
            rank = p.GetValue(Rank);
        }
        int seed = p.GetValue(Seed), stage2 = p.GetValue(Stage2Epochs);
        return new DistillationOptions(sparsity, rank,
            new LayerwiseDistillerOptions(LearningRate: p.GetValue(Stage1Lr), BatchSize: p.GetValue(Stage1Batch), Epochs: p.GetValue(Stage1Epochs),
                Seed: seed, InitFromRrr: p.GetValue(Stage1Init) == "rrr"),
            stage2 == 0 ? null : new EndToEndOptions { Epochs = stage2, LearningRate = p.GetValue(Stage2Lr), BatchSize = p.GetValue(Stage2Batch), Seed = seed });
    }

    /// <summary>The training corpus, split into training and held-out parts, and a description for checkpoints and metadata.</summary>
    /// <exception cref="InvalidDataException">The corpus file is malformed (the message names file and line).</exception>
    public (DistillationCorpus Train, DistillationCorpus HeldOut, string Description) BuildCorpus(ParseResult p, LoadedModel model,
        IProgress<int>? progress, CancellationToken ct)
    {
        int seed = p.GetValue(Seed);
        int prompt = p.GetValue(PromptTokens);
        DistillationCorpus corpus;
        string description;
        if (p.GetValue(Problems) is { } problemFile)
            (corpus, description) = SolvedProblems(p, model, problemFile, progress, ct);
        else if (p.GetValue(Corpus) is { } file)
        {
            string? prefix = p.GetValue(Prefix);
            int maxTokens = Math.Min(model.Config.MaxSeqLen, prompt + p.GetValue(ContinuationTokens));
            corpus = TextCorpus.FromFile(file, model.Tokenizer, new TextCorpusOptions(prompt, maxTokens, prefix));
            if (corpus.Count == 0)
                throw new InvalidDataException($"{file}: no sample has more than {prompt} tokens");
            description = $"file:{Path.GetFileName(file)}:{new FileInfo(file).Length}:{prefix}:{prompt}:{maxTokens}";
        }
        else
        {
            int bos = model.Tokenizer.Encode("", addBos: true) is [var b] ? b : 1;
            int[] eos = model.Tokenizer.Encode("", addBos: false, addEos: true) is [var e] ? [e] : [];
            var options = new SyntheticCorpusOptions(p.GetValue(Samples), prompt, p.GetValue(ContinuationTokens), Seed: seed, StartToken: bos, EndTokens: eos);
            corpus = SyntheticCorpus.Generate(model.Model, options, progress, ct);
            description = string.Create(CultureInfo.InvariantCulture, $"synthetic:{options.Count}x{prompt}+{options.ContinuationTokens}:T{options.Temperature}:seed{seed}");
        }
        double held = p.GetValue(HeldOut);
        if (corpus.Count == 0)
            throw new InvalidDataException("the training corpus is empty");
        var (train, heldOut) = held > 0 && corpus.Count > 1 ? corpus.Split(held, seed) : (corpus, new DistillationCorpus([]));
        return (train, heldOut, description);
    }

    /// <summary>
    /// The paper's recipe: questions posed to the dense model, whose greedy answers (to EOS or the token budget) are
    /// the continuations the adapters learn on; the question prompt is the dense prefill.
    /// </summary>
    private (DistillationCorpus, string) SolvedProblems(ParseResult p, LoadedModel model, string file, IProgress<int>? progress, CancellationToken ct)
    {
        var format = MathPromptFormats.Get(p.GetValue(PromptFormat)!);
        var problems = MathProblemFile.Read(file);
        int count = Math.Min(p.GetValue(Samples), problems.Count);
        int[] eos = [.. model.Tokenizer.EosIds];
        var prompts = problems.Take(count).Select(q => model.Tokenizer.Encode(format.Prompt(q.Question), addBos: true)).ToList();
        int continuation = p.GetValue(ContinuationTokens);
        // PromptTokens 1: every start prompt is kept whole, so the prompt/continuation split falls where the answer begins.
        var options = new SyntheticCorpusOptions(count, PromptTokens: 1, ContinuationTokens: continuation, Temperature: 0,
            StartPrompts: prompts, EndTokens: eos);
        var corpus = SyntheticCorpus.Generate(model.Model, options, progress, ct);
        string description = string.Create(CultureInfo.InvariantCulture,
            $"problems:{Path.GetFileName(file)}:{new FileInfo(file).Length}:{format.Name}:{count}+{continuation}:greedy");
        return (corpus, description);
    }
}
