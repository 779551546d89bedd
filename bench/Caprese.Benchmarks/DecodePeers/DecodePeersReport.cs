using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Caprese.Benchmarks.DecodePeers;

/// <summary>Tokens/s of one engine: median and quartiles over the rounds used (see <see cref="PeerRow.RoundsUsed"/>), every round's figure, and what loading it cost.</summary>
public sealed record EngineResult(string Engine, double MedianTokPerSec, double P25TokPerSec, double P75TokPerSec, double[] TokPerSec,
    double? LoadSeconds, double? PeakRssMiB, double? PercentOfRoofline);

/// <summary>
/// Whether Caprese and llama.cpp compute the same function: fed the same tokens one step at a time,
/// the argmax after each (ForcedArgmax*) and the largest logit difference relative to the largest
/// |logit|; plus the free-running greedy ids after BOS (random-weight models often repeat one token,
/// which is why the forced check exists).
/// </summary>
public sealed record GreedyCheck(bool Agree, int Compared, int[] ForcedTokens, int[] ForcedArgmaxCaprese, int[] ForcedArgmaxLlamaCpp,
    double MaxRelativeLogitDifference, int[] Caprese, int[] LlamaCpp);

public sealed record PeerRow(string Shape, string Description, string DType, string GgufFile, string? Llama2cFile,
    long CapreseWeightBytesPerToken, long FileWeightBytesPerToken, int Tokens, int Context, double RooflineGBps, double[] RooflineSamplesGBps,
    IReadOnlyList<EngineResult> Engines, GreedyCheck? Check, string? CapreseNote, double ForeignLoadCores, double[] ForeignLoadCoresPerRound, int[] RoundsUsed)
{
    public EngineResult? Engine(string name) => Engines.FirstOrDefault(e => e.Engine == name);
}

public sealed record DecodePeersReport(string Commit, string TimestampUtc, string Machine, int LogicalProcessors, int Threads,
    int Rounds, double RooflineBufferMiB, string LoadAverageBefore, string LoadAverageAfter,
    string CommandLine, string LlamaSharp, string? RunC, string? Note, IReadOnlyList<PeerRow> Rows)
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public string ToMarkdown()
    {
        var md = new StringBuilder();
        void Line(string s = "") => md.Append(s).Append('\n');
        Line($"# CPU decode: Caprese vs llama.cpp and run.c ({TimestampUtc[..10]})");
        Line();
        Line($"- commit {Commit}, {TimestampUtc}; machine {Machine}, {LogicalProcessors} logical processors; {Threads} threads for every engine and the roofline");
        Line($"- load average before {LoadAverageBefore}, after {LoadAverageAfter}");
        Line($"- {Rounds} rounds of greedy decoding after BOS ({string.Join(", ", Rows.Select(r => (r.Shape, r.Tokens, r.Context)).Distinct().Select(x => $"{x.Shape}: {x.Tokens} tokens, context {x.Context}"))}); engines alternated within each round, starting engine rotated; medians (p25–p75) over the clean rounds (other programs below {DecodePeersCommand.CleanRoundMaxForeignCores} cores) when at least half were clean, else over all");
        Line($"- llama.cpp: {LlamaSharp}; run.c: {RunC ?? "not given (--runc)"}; each engine in a process of its own (load time and peak RSS are that process's)");
        Line($"- roofline: streaming read of a {RooflineBufferMiB:F0} MiB buffer with the same threads, measured inside the same rounds");
        if (Note is not null)
            Line($"- note: {Note}");
        Line($"- command: `{CommandLine}`");
        Line();
        Line("| shape | dtype | Caprese tok/s | Caprese % of read roofline | llama.cpp tok/s | llama.cpp / Caprese | run.c tok/s | run.c / Caprese | roofline GB/s | other programs' load, cores (rounds used) | same argmax as llama.cpp |");
        Line("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var r in Rows)
        {
            var c = r.Engine("caprese");
            var l = r.Engine("llama.cpp");
            var x = r.Engine("run.c");
            string Ratio(EngineResult? e) => e is null || c is null ? "–" : Inv($"**{e.MedianTokPerSec / c.MedianTokPerSec:F2}**");
            string Tps(EngineResult? e) => e is null ? "–" : Inv($"{Format(e.MedianTokPerSec)} ({Format(e.P25TokPerSec)}–{Format(e.P75TokPerSec)})");
            string check = r.Check is null ? "–"
                : Inv($"{(r.Check.Agree ? "yes" : "**NO**")} ({r.Check.ForcedArgmaxCaprese.Zip(r.Check.ForcedArgmaxLlamaCpp).Count(p => p.First == p.Second)}/{r.Check.Compared}; max Δlogit {r.Check.MaxRelativeLogitDifference:G2})");
            Line(Inv($"| {r.Shape} | {r.DType} | {Tps(c)} | {(c?.PercentOfRoofline is { } p ? Inv($"{p:F0}%") : "–")} | {Tps(l)} | {Ratio(l)} | {Tps(x)} | {Ratio(x)} | {r.RooflineGBps:F1} | {r.ForeignLoadCores:F2} ({r.RoundsUsed.Length}/{Rounds} rounds) | {check} |"));
        }
        Line();
        Line("Ratios above 1 mean the peer is faster. % of roofline = weight bytes one Caprese step reads / step time / the read roofline.");
        Line($"Other programs' load: CPU time the rest of the machine used during a round (busy time in /proc/stat minus this benchmark's processes) over the round's wall time, median over the rounds used; with {LogicalProcessors} logical processors, anything near a core or more means the engines were not alone, and spin-waiting engines (llama.cpp, run.c's OpenMP) suffer most.");
        Line("Same argmax: both engines fed the same tokens one step at a time from BOS, the argmax after each compared; max Δlogit is the largest |logit difference| over the largest |logit|.");
        foreach (var r in Rows.Where(r => r.CapreseNote is not null))
            Line($"- {r.Shape} {r.DType}: {r.CapreseNote}");
        foreach (var r in Rows.Where(r => r.Check is { Agree: false }))
            Line($"- {r.Shape} {r.DType}: argmax after forced tokens {string.Join(' ', r.Check!.ForcedTokens)} differs: Caprese {string.Join(' ', r.Check.ForcedArgmaxCaprese)}, llama.cpp {string.Join(' ', r.Check.ForcedArgmaxLlamaCpp)}");
        Line();
        Line("Loading and memory (per engine process; run.c is a fresh process per round and is not measured here):");
        Line();
        Line("| shape | dtype | weight MB read per token (Caprese / file) | engine | load s | peak RSS MiB | achieved GB/s of weights |");
        Line("|---|---|---:|---|---:|---:|---:|");
        foreach (var r in Rows)
            foreach (var e in r.Engines.Where(e => e.Engine != "run.c"))
            {
                long bytes = e.Engine == "caprese" ? r.CapreseWeightBytesPerToken : r.FileWeightBytesPerToken;
                Line(Inv($"| {r.Shape} | {r.DType} | {r.CapreseWeightBytesPerToken / 1e6:F1} / {r.FileWeightBytesPerToken / 1e6:F1} | {e.Engine} | {e.LoadSeconds:F2} | {e.PeakRssMiB:F0} | {bytes * e.MedianTokPerSec / 1e9:F1} |"));
            }
        return md.ToString();
    }

    private static string Format(double tps) => tps >= 1000 ? Inv($"{tps / 1000:F2}k") : tps >= 100 ? Inv($"{tps:F0}") : Inv($"{tps:F2}");

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
