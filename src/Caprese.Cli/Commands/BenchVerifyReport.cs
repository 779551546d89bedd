using Caprese.Models.Formats;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Caprese.Cli.Commands;

/// <summary>
/// What `caprese bench-verify --json` writes: the cost of one dense forward over k rows against one dense decode step
/// (the verification pass of draft-then-verify decoding), the draft's sparse step, the memory roofline of the same run
/// and the speed-up projected from them. Times are milliseconds of wall clock around one forward call (its argmax ids
/// back on the host), measured round by round so that machine noise falls on every quantity alike.
/// </summary>
internal sealed record BenchVerifyReport
{
    public required string Preset { get; init; }
    public required int Layers { get; init; }
    public required int PresetLayers { get; init; }
    public required int Dim { get; init; }
    public required int HiddenDim { get; init; }
    public required int Vocab { get; init; }
    public required string Weights { get; init; }
    public required string Backend { get; init; }

    /// <summary>The CPU's model name, or the GPU's name.</summary>
    public required string Device { get; init; }

    public required string Machine { get; init; }

    /// <summary>CPU worker threads (0 on a GPU backend).</summary>
    public required int Threads { get; init; }

    public required int LogicalProcessors { get; init; }
    public required string Commit { get; init; }
    public required string CapreseVersion { get; init; }
    public required string TimestampUtc { get; init; }

    /// <summary>Positions prefilled before timing; every timed pass starts at this position and is rolled back.</summary>
    public required int Context { get; init; }

    /// <summary>Timed rounds (after one untimed warm-up round).</summary>
    public required int Repeats { get; init; }

    public required int MaxRows { get; init; }
    public required string DraftPolicy { get; init; }
    public required double DenseStepWeightBytes { get; init; }
    public required double DraftStepWeightBytes { get; init; }
    public required BenchVerifyCheck Check { get; init; }

    /// <summary>One dense decode step (Decode kind, dense session, 1 row).</summary>
    public required BenchVerifyTiming DenseStep { get; init; }

    /// <summary>One sparse decode step of the draft policy (1 row).</summary>
    public required BenchVerifyTiming DraftStep { get; init; }

    /// <summary>Dense Verify passes over k rows, k = 1..max rows and γ + 1 for every projected γ.</summary>
    public required IReadOnlyList<BenchVerifyRows> Verify { get; init; }

    public required BenchVerifyRoofline Roofline { get; init; }
    public required IReadOnlyList<BenchVerifyProjection> Projections { get; init; }
    public required IReadOnlyList<string> Notes { get; init; }

    private static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>Writes next to the target, then renames: a reader never sees a half-written file.</summary>
    public static void Write(string path, BenchVerifyReport report) =>
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(report, Options));
}

/// <summary>Summary of one quantity's timed samples, in milliseconds.</summary>
internal sealed record BenchVerifyTiming(double MedianMs, double P25Ms, double P75Ms, double MinMs, double MaxMs, int Samples);

/// <summary>
/// The Verify pass over <see cref="Rows"/> rows; <see cref="Ratio"/> is the median over rounds of t_verify(k) / t_dense(1)
/// taken within each round (P25/P75 the quartiles of those per-round ratios).
/// </summary>
internal sealed record BenchVerifyRows(int Rows, BenchVerifyTiming Time, double Ratio, double RatioP25, double RatioP75, double RatioPerRow);

/// <summary>
/// The memory roofline: weight bytes of a step over the backend's copy bandwidth (bytes read + written per second of a
/// device-to-device copy, as `caprese bench` measures it).
/// </summary>
internal sealed record BenchVerifyRoofline(double CopyGBPerSecond, double DenseStepMs, double DraftStepMs, double DenseStepPercentOfRoofline,
    double DenseStepAchievedGBPerSecond);

/// <summary>
/// Projected speed-up of draft-then-verify decoding over dense for γ drafts per round: from an acceptance rate α
/// (<see cref="Source"/> "acceptance", E = (1 − α^(γ+1)) / (1 − α)) or a measured average advance length (source "aal",
/// E = the AAL). <see cref="SpeedUpIfVerifyFlat"/> is the same with t_verify(γ + 1) = t_dense(1), the memory-bound ideal;
/// <see cref="BreakEvenDraftRatio"/> the draft step time, in dense steps, below which the measured verification pays.
/// </summary>
internal sealed record BenchVerifyProjection(int Gamma, string Source, double? Acceptance, double TokensPerRound, double RoundMs,
    double SpeedUp, double SpeedUpIfVerifyFlat, double BreakEvenDraftRatio);

/// <summary>
/// The check run once before timing: a Verify pass over <see cref="Rows"/> rows against as many single-row dense steps
/// at the same positions (argmax ids equal; logits within a tolerance of rounding).
/// </summary>
internal sealed record BenchVerifyCheck(int Rows, bool ArgmaxEqual, double MaxAbsLogitDifference, double MaxAbsLogit);
