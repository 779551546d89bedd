using Caprese.Models.Formats;
using System.Text.Json;

namespace Caprese.Cli.Commands;

/// <summary>What `caprese bench --json` writes: one decode-latency measurement against the memory roofline.</summary>
internal sealed record BenchReport(
    string Preset, int Layers, string Weights, string Backend, string Device, double WeightBytesReadPerToken,
    int PromptTokens, double PrefillMs, int DecodeTokens, double MsPerToken, double AchievedGBPerSecond,
    double CopyGBPerSecond, double RooflineMsPerToken, double PercentOfRoofline, string CapreseVersion, string TimestampUtc,
    DecodeGraphBench? CudaGraphs = null)
{
    private static readonly JsonSerializerOptions Options = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>Writes next to the target, then renames: a reader never sees a half-written file.</summary>
    public static void Write(string path, BenchReport report) =>
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(report, Options));
}
