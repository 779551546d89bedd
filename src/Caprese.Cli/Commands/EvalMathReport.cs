using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Caprese.Interop;
using Caprese.Models;
using Caprese.Models.MathReasoning;
using Caprese.Models.Sessions;

namespace Caprese.Cli.Commands;

/// <summary>What an eval-math run was: everything needed to reproduce or compare it (snake_case in JSON).</summary>
internal sealed record EvalMathConfiguration(
    string Model, string Data, int ProblemsInFile, int? Limit, string Shard, string PromptFormat, int MaxTokens,
    float Temperature, int TopK, float TopP, int? Seed,
    string Policy, string SparsityMethod, double? Sparsity, string? SparseLayers, string? Adapter, string? AdapterForm, int? AdapterRank, string? Calibration,
    string Decoding, int? DraftLength, int? KernelSize, double? Threshold, string? Judge, double? JudgeThreshold,
    string Backend, string Weights, int Context, string Commit, string CapreseVersion, string TimestampUtc);

/// <summary>The summary table (stdout, --markdown) and the JSON document (--json) of an eval-math run.</summary>
internal sealed class EvalMathReport(EvalMathConfiguration configuration, MathEvaluation result)
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        // A results file, not HTML: quotes and non-ASCII text of the generations stay readable.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    /// <summary>The configuration of a finished run (settings that do not apply to its method are null).</summary>
    public static EvalMathConfiguration Configure(EvalMathRequest r, LoadedModel loaded, FfnPolicy policy, int problemsInFile)
    {
        var s = policy.Sparsity;
        bool sparse = s.Method != Models.Sparsity.SparsityMethod.None;
        string? layers = null;
        if (sparse)
        {
            var (first, end) = s.LayerRange(loaded.Config.Layers);
            layers = string.Create(Inv, $"{first}-{end - 1}");
        }
        string method = r.Decoding.Method;
        return new EvalMathConfiguration(
            r.ModelPath, Path.GetFullPath(r.DataPath), problemsInFile, r.Selection.Limit, $"{r.Selection.ShardIndex}/{r.Selection.ShardCount}",
            r.Format.Name, r.MaxTokens, r.Temperature, r.TopK, r.TopP, r.Seed,
            policy.Describe(loaded.Config.Layers), s.Method.ToString().ToLowerInvariant(), sparse ? s.Sparsity : null, layers,
            r.Policy.AdapterPath, policy.Adapters is null ? null : policy.AdapterForm.ToString().ToLowerInvariant(), policy.Adapters?.Rank,
            r.Policy.CalibrationPath,
            method, method is "speculative" or "judge" ? r.Decoding.DraftLength : null, method == "sirius" ? r.Decoding.KernelSize : null,
            method == "sirius" ? r.Decoding.Threshold : null, r.Decoding.JudgePath, method == "judge" ? r.Decoding.JudgeThreshold : null,
            BackendArguments.Name(loaded.Backend), CommandFailures.WeightsName(loaded.Model.Weights.MatrixType), loaded.Config.MaxSeqLen,
            SourceRevision.Commit(), CapreseLibrary.Version, DateTime.UtcNow.ToString("o", Inv));
    }

    /// <summary>A header saying what ran and the one-row summary table.</summary>
    public string Markdown()
    {
        var c = configuration;
        var s = result.Summary;
        var sb = new StringBuilder();
        sb.AppendLine(string.Create(Inv, $"eval-math: {Path.GetFileName(c.Data)} ({s.Problems} of {c.ProblemsInFile} problems, shard {c.Shard}{(c.Limit is { } l ? $", limit {l}" : "")}), {c.PromptFormat} prompts, up to {c.MaxTokens} tokens, {(c.Temperature == 0 ? "greedy" : $"temperature {c.Temperature}, seed {c.Seed?.ToString(Inv) ?? "random"}")}"));
        sb.AppendLine(string.Create(Inv, $"model {Path.GetFileName(c.Model)} ({c.Weights}, {BackendArguments.Describe(BackendArguments.Parse(c.Backend))}); decode policy {c.Policy}; decoding {DescribeDecoding(c)}; commit {c.Commit}"));
        sb.AppendLine();
        sb.AppendLine("| problems | correct | accuracy [95% Wilson] | tokens mean / median | decode tok/s | dense passes / token | AAL | active FFN params / token | effective density |");
        sb.AppendLine("|---:|---:|---|---:|---:|---:|---:|---:|---:|");
        string ffn = s.ActiveFfnParametersPerToken is { } a
            ? string.Create(Inv, $"{Count(a)} ({a / s.DenseFfnParameters * 100:F1}% of {Count(s.DenseFfnParameters)})")
            : "–";
        sb.AppendLine(string.Create(Inv,
            $"| {s.Problems} | {s.Correct} | {s.Accuracy * 100:F1}% [{s.AccuracyLower * 100:F1}%, {s.AccuracyUpper * 100:F1}%] | {s.MeanGeneratedTokens:F1} / {s.MedianGeneratedTokens:F1} | {Number(s.DecodeTokensPerSecond, "F1")} | {Number(s.DensePassesPerToken, "F3")} | {Number(s.AverageAdvance, "F2")} | {ffn} | {Number(s.EffectiveDensity, "F3")} |"));
        if (s.ContextFull > 0)
            sb.AppendLine().AppendLine(string.Create(Inv, $"{s.ContextFull} problem(s) ran out of the model's context of {c.Context} positions (scored as wrong)."));
        return sb.ToString();
    }

    /// <summary>Configuration, summary and every problem's record.</summary>
    public string Json() => JsonSerializer.Serialize(new
    {
        command = "eval-math",
        configuration,
        summary = result.Summary,
        problems = result.Outcomes,
    }, JsonOptions);

    private static string DescribeDecoding(EvalMathConfiguration c) => c.Decoding switch
    {
        "speculative" => string.Create(Inv, $"speculative γ={c.DraftLength}"),
        "judge" => string.Create(Inv, $"judge γ={c.DraftLength} threshold {c.JudgeThreshold}"),
        "sirius" => string.Create(Inv, $"sirius kernel {c.KernelSize} threshold {c.Threshold}"),
        var other => other,
    };

    private static string Number(double? value, string format) => value is { } v ? v.ToString(format, Inv) : "–";

    // 1234567 → "1.23M": parameter counts of models from 260K to billions.
    private static string Count(double n) => n switch
    {
        >= 1e9 => string.Create(Inv, $"{n / 1e9:F2}B"),
        >= 1e6 => string.Create(Inv, $"{n / 1e6:F2}M"),
        >= 1e3 => string.Create(Inv, $"{n / 1e3:F1}K"),
        _ => n.ToString("F0", Inv),
    };
}
