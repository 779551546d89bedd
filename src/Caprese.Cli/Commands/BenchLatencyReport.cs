using Caprese.Models.Formats;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Caprese.Cli.Commands;

/// <summary>
/// What `caprese bench-latency --json` writes: time to next token of every decoding row of the Caprese paper's latency
/// table (dense, GRIFFIN, GRIFFIN + unmerged adapter, merged Caprese, CATS, Caprese on CATS; speculative and Sirius
/// projected from measured step costs) on one synthetic model, measured round by round in a shuffled order, next to the
/// byte-ideal ratio of each row (weight bytes read per token over dense's) and the memory roofline of the same rounds.
/// </summary>
internal sealed record BenchLatencyReport
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

    /// <summary>1-, 5- and 15-minute load averages before the model was built and after the last round (null off Linux).</summary>
    public required double[]? LoadAverageBefore { get; init; }

    public required double[]? LoadAverageAfter { get; init; }
    public required string Commit { get; init; }
    public required string CapreseVersion { get; init; }
    public required string TimestampUtc { get; init; }
    public required string CommandLine { get; init; }

    /// <summary>Prompt positions prefilled in every session; every round decodes from there and rolls back.</summary>
    public required int Context { get; init; }

    /// <summary>Greedy decode steps timed per measured row per round.</summary>
    public required int TokensPerRound { get; init; }

    /// <summary>Timed rounds (after one untimed warm-up round).</summary>
    public required int Rounds { get; init; }

    public required double Sparsity { get; init; }
    public required int AdapterRank { get; init; }
    public required string GriffinPath { get; init; }
    public required long DenseStepWeightBytes { get; init; }

    /// <summary>Copy bandwidth (GB/s, read + written) sampled once per round, among the shuffled passes.</summary>
    public required BenchLatencyTiming CopyGBPerSecond { get; init; }

    public required IReadOnlyList<BenchLatencyCheck> Checks { get; init; }
    public required IReadOnlyList<BenchLatencyRow> Rows { get; init; }
    public required BenchLatencyGoals Goals { get; init; }
    public required IReadOnlyList<string> Notes { get; init; }

    private static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>Writes next to the target, then renames: a reader never sees a half-written file.</summary>
    public static void Write(string path, BenchLatencyReport report) =>
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(report, Options));
}

/// <summary>Summary of one quantity's per-round samples (milliseconds, or GB/s for the copy bandwidth).</summary>
internal sealed record BenchLatencyTiming(double Median, double P25, double P75, double Min, double Max, int Samples);

/// <summary>
/// One row of the table. <see cref="Kind"/> "measured": greedy decode steps of its own session, timed;
/// "projected": a draft-then-verify method's time per generated token, (γ·t_draft + t_verify(γ + 1)) / E, from the
/// same round's measured draft step and verification pass (<see cref="Projection"/>) at a stated E.
/// </summary>
/// <param name="Key">Short name (dense, griffin, griffin-unmerged, caprese-griffin, cats, caprese-cats, speculative, sirius).</param>
/// <param name="Label">What the row runs, in words.</param>
/// <param name="Kind">"measured" or "projected".</param>
/// <param name="WeightBytesPerToken">Weight bytes read per generated token (the byte model of WeightTraffic).</param>
/// <param name="MsPerToken">Milliseconds per generated token over the rounds.</param>
/// <param name="SamplesMs">The per-round values behind <paramref name="MsPerToken"/>, in round order.</param>
/// <param name="Ratio">Median over rounds of (this row / dense) within each round.</param>
/// <param name="ByteIdealRatio">Weight bytes per token over dense's: the ratio a purely memory-bound decoder would show.</param>
/// <param name="GapPercent">100·(Ratio / ByteIdealRatio − 1): how far the measurement is from its byte ideal.</param>
/// <param name="WeightGBPerSecond">Weight bytes per token over the median time per token.</param>
/// <param name="PercentOfRoofline">The row's weight bytes at the median copy bandwidth, over its median time.</param>
/// <param name="WithinFivePercentOfIdeal">The goal |gap| ≤ 5% (null for dense, whose ratio is 1 by definition).</param>
/// <param name="SparseBaseline">For adapter rows, the key of the same sparsity without the adapter.</param>
/// <param name="OverSparsePercent">Median over rounds of 100·(this row / its sparse baseline − 1).</param>
/// <param name="MergedWithinThreePercent">Merged adapter rows: the goal OverSparsePercent ≤ 3%.</param>
internal sealed record BenchLatencyRow(
    string Key, string Label, string Kind, double WeightBytesPerToken, BenchLatencyTiming MsPerToken, double[] SamplesMs,
    double Ratio, double RatioP25, double RatioP75, double ByteIdealRatio, double GapPercent, double WeightGBPerSecond,
    double PercentOfRoofline, bool? WithinFivePercentOfIdeal, string? SparseBaseline, double? OverSparsePercent,
    bool? MergedWithinThreePercent, BenchLatencyProjection? Projection);

/// <summary>
/// How a projected row's time is made: <see cref="DraftLength"/> steps of the measured row <see cref="DraftRow"/>,
/// one dense verification pass over DraftLength + 1 rows (with every row's logits on the host when the method needs
/// them), and <see cref="TokensPerRound"/> tokens emitted per round (an input: random weights make acceptance meaningless).
/// </summary>
internal sealed record BenchLatencyProjection(
    string Method, int DraftLength, double TokensPerRound, string TokensPerRoundSource, string DraftRow, double DraftStepBytes,
    BenchLatencyTiming DraftStepMs, int VerifyRows, bool VerifyLogitsToHost, BenchLatencyTiming VerifyPassMs, double[] VerifyPassSamplesMs,
    BenchLatencyTiming RoundMs);

/// <summary>A check run once before timing; a failed one stops the command (nothing is timed).</summary>
internal sealed record BenchLatencyCheck(string Name, bool Passed, string Detail);

/// <summary>The goals, counted over the rows: measured ratio within 5% of the byte ideal; merged adapters ≤ 3% over sparse.</summary>
internal sealed record BenchLatencyGoals(int RowsWithinFivePercent, int RowsCompared, int MergedWithinThreePercent, int MergedCompared);
