using System.CommandLine;
using Caprese.Models;
using Caprese.Models.Decoding;
using Caprese.Models.Decoding.Judge;
using Caprese.Models.Adapters;

namespace Caprese.Cli.Commands;

/// <summary>
/// How tokens are produced, as generate and eval-math take it: <c>--decode</c> and the settings of each method, checked
/// alike everywhere (a setting of one method given with another is an error, not silently ignored).
/// </summary>
internal sealed class DecodingArguments
{
    public DecodingArguments()
    {
        Decode.AcceptOnlyFromAmong([.. DecodingMethods.Names]);
        DraftLength.Validators.Add(r => { int v = r.GetValueOrDefault<int>(); if (v < 1 || v > DraftVerifyDecoding.MaxDraftLength) r.AddError($"--draft-length must be in 1..{DraftVerifyDecoding.MaxDraftLength}"); });
        KernelSize.Validators.Add(r => { int v = r.GetValueOrDefault<int>(); if (v < 1 || v > DraftVerifyDecoding.MaxDraftLength) r.AddError($"--kernel-size must be in 1..{DraftVerifyDecoding.MaxDraftLength}"); });
        Threshold.Validators.Add(r => { double v = r.GetValueOrDefault<double>(); if (!(v > 0 && v <= 1)) r.AddError("--threshold must be in (0, 1]"); });
        JudgeThreshold.Validators.Add(r => { double v = r.GetValueOrDefault<double>(); if (!(v >= 0 && v < 1)) r.AddError("--judge-threshold must be in [0, 1)"); });
    }

    public Option<string> Decode { get; } = new("--decode") { Description = "Decoding method: " + string.Join("; ", DecodingMethods.Names) + " (see README)", DefaultValueFactory = _ => "dense" };
    public Option<int> DraftLength { get; } = new("--draft-length") { Description = "speculative, judge: tokens drafted per verification pass (1..16)", DefaultValueFactory = _ => 8 };
    public Option<int> KernelSize { get; } = new("--kernel-size") { Description = "sirius: tokens decoded sparsely between dense correction passes (1..16)", DefaultValueFactory = _ => 16 };
    public Option<double> Threshold { get; } = new("--threshold") { Description = "sirius: the full model's probability a sparse token needs to be kept, in (0, 1]", DefaultValueFactory = _ => 0.1 };
    public Option<string?> Judge { get; } = new("--judge") { Description = "judge: a judge head file (from `caprese judge-train`) for this model" };
    public Option<double> JudgeThreshold { get; } = new("--judge-threshold") { Description = "judge: the head's probability above which a rejected draft is kept, in [0, 1)", DefaultValueFactory = _ => 0.5 };

    public IEnumerable<Option> All => [Decode, DraftLength, KernelSize, Threshold, Judge, JudgeThreshold];

    /// <summary>
    /// The checks across options: method settings only with their method, judge decoding with a head, draft-verify methods
    /// with a sparse draft (<paramref name="policy"/>'s --sparsity-method or --adapter).
    /// </summary>
    public void AddValidators(Command command, PolicyArguments policy) => command.Validators.Add(r =>
    {
        // The raw tokens: an unknown value is reported by the option's own validator and must not throw here.
        string method = r.GetResult(Decode)?.Tokens.LastOrDefault()?.Value ?? "dense";
        if (!DecodingMethods.Names.Contains(method))
            return;
        void Only(Option option, params string[] methods)
        {
            if (r.GetResult(option) is { Implicit: false } && !methods.Contains(method))
                r.AddError($"{option.Name} applies to --decode {string.Join(" or ", methods)}, not {method}");
        }
        Only(DraftLength, "speculative", "judge");
        Only(KernelSize, "sirius");
        Only(Threshold, "sirius");
        Only(Judge, "judge");
        Only(JudgeThreshold, "judge");
        if (method == "judge" && r.GetResult(Judge) is null)
            r.AddError("--decode judge needs --judge FILE (train one with `caprese judge-train`)");
        if (method != "dense" && (r.GetResult(policy.SparsityMethod)?.Tokens.LastOrDefault()?.Value ?? "none") == "none" && r.GetResult(policy.Adapter) is null)
            r.AddError($"--decode {method} drafts with a sparse model: give --sparsity-method (griffin, cats) or --adapter");
    });

    /// <summary>What the flags ask for.</summary>
    public Request Read(ParseResult parse) => new(parse.GetValue(Decode)!, parse.GetValue(DraftLength), parse.GetValue(KernelSize),
        parse.GetValue(Threshold), parse.GetValue(Judge), parse.GetValue(JudgeThreshold));

    /// <summary>The decoding flags; the judge head is checked against the model, so it loads after the model.</summary>
    public sealed record Request(string Method, int DraftLength, int KernelSize, double Threshold, string? JudgePath, double JudgeThreshold)
    {
        /// <exception cref="JudgeHeadMismatchException">A head for another model.</exception>
        public IDecodingMethod Resolve(LoadedModel loaded)
        {
            JudgeHead? head = JudgePath is { } path
                ? JudgeHeadFile.Load(path, ModelFingerprint.Compute(loaded.Model), loaded.Config.Dim).Head
                : null;
            return DecodingMethods.Create(new DecodingOptions(Method, DraftLength, KernelSize, Threshold, head, JudgeThreshold));
        }
    }
}
