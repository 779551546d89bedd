using Caprese.Models.Formats;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Caprese.Cli.Commands;

/// <summary>
/// What `caprese bench-training --json` writes: stage-1 and stage-2 adapter-training throughput of one model shape on
/// one backend. A stage-1 row is one token's FFN input in one sparsified layer; stage-1 tokens/s divides the rows/s by
/// the sparsified layers (every layer is trained on every token). Stage-2 tokens count prompt + continuation, as the
/// trainer's own progress does.
/// </summary>
internal sealed record BenchTrainingReport
{
    public required string Model { get; init; }
    public required string Source { get; init; }
    public required int Layers { get; init; }
    public required int Dim { get; init; }
    public required int HiddenDim { get; init; }
    public required int Vocab { get; init; }
    public required string Weights { get; init; }
    public required double WeightBytes { get; init; }
    public required string Backend { get; init; }
    public required string Device { get; init; }
    public long? DeviceTotalMemoryBytes { get; init; }
    public required int Threads { get; init; }
    public required string SparsityMethod { get; init; }
    public required double Sparsity { get; init; }
    public required string SparseLayers { get; init; }
    public required int Rank { get; init; }
    public required long AdapterParameters { get; init; }

    public required int Stage1BatchRows { get; init; }
    public required int Stage1Steps { get; init; }
    public required double Stage1MsPerStepMedian { get; init; }
    public required double Stage1RowsPerSecond { get; init; }
    public required double Stage1RowsPerSecondTotal { get; init; }
    public required double Stage1TokensPerSecond { get; init; }

    public required int Stage2TokensPerSequence { get; init; }
    public required int Stage2PromptTokens { get; init; }
    public required int Stage2Batch { get; init; }
    public required int Stage2Steps { get; init; }
    public required double Stage2MsPerStepMedian { get; init; }
    public required double Stage2TokensPerSecond { get; init; }
    public required double Stage2TokensPerSecondTotal { get; init; }
    public required double Stage2ContinuationTokensPerSecond { get; init; }
    public required double Stage2SetupSeconds { get; init; }

    public required double BuildSeconds { get; init; }
    public required long HostPeakWorkingSetBytes { get; init; }
    public required string CapreseVersion { get; init; }
    public required string TimestampUtc { get; init; }

    private static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>Writes next to the target, then renames: a reader never sees a half-written file.</summary>
    public static void Write(string path, BenchTrainingReport report) =>
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(report, Options));
}
