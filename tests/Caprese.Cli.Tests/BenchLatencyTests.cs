using System.Text.Json;

namespace Caprese.Cli.Tests;

/// <summary>`caprese bench-latency` as a user runs it: every row of the latency table on a tiny preset, its byte-ideal
/// ratios against a hand count of the preset's weights, the figures recomputed from the report's own samples, and its
/// usage errors.</summary>
public sealed class BenchLatencyTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("caprese-bench-latency-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // tiny-llama: D 32, H 48, 2 layers, 4 query heads and 2 KV heads of 8 (q 32 wide, k and v 16), vocabulary 64,
    // untied embeddings, no biases or post-norms. Counted here by hand, not with WeightTraffic.
    private const long D = 32, H = 48, Layers = 2, Q = 32, Kv = 16, Vocab = 64;

    private static long DenseBytes(long e) =>
        Layers * ((Q * D + 2 * Kv * D + D * Q) * e + 3 * H * D * e + 2 * D * 4) // attention, FFN, two f32 norms
        + D * 4 + Vocab * D * e + D * e; // final norm, classifier, one embedding row

    [Theory]
    [InlineData("bf16", 2)]
    [InlineData("f32", 4)]
    public void EveryRowIsReportedWithItsByteIdealAndFiguresFromItsOwnSamples(string weights, long e)
    {
        string json = Path.Combine(_dir, "out", "latency.json");
        string md = Path.Combine(_dir, "out", "latency.md");
        string png = Path.Combine(_dir, "out", "latency.png");
        const int rank = 4, gamma = 3, kernel = 5;
        const double specAal = 2.5, siriusAal = 4;
        var r = CapreseProcess.Run(_dir, "bench-latency", "--preset", "tiny-llama", "--weights", weights, "--context", "12", "--tokens", "3",
            "--rounds", "3", "--rank", $"{rank}", "--gamma", $"{gamma}", "--kernel-size", $"{kernel}", "--speculative-aal", "2.5",
            "--sirius-aal", "4", "--json", json, "--markdown", md, "--plot", png, "--note", "test run");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("| row | ms/token |", r.Stdout);
        Assert.Contains("note: test run", r.Stdout);
        Assert.Contains("round 3/3 done", r.Stderr);
        Assert.Equal(r.Stdout, File.ReadAllText(md));
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(json)!, "*.tmp*"));
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, File.ReadAllBytes(png)[..4]);

        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var root = doc.RootElement;
        Assert.Equal("tiny-llama", root.GetProperty("preset").GetString());
        Assert.Equal(weights, root.GetProperty("weights").GetString());
        Assert.Equal(3, root.GetProperty("rounds").GetInt32());
        foreach (var key in new[] { "commit", "caprese_version", "device", "machine", "timestamp_utc", "command_line" })
            Assert.False(string.IsNullOrWhiteSpace(root.GetProperty(key).GetString()), key);
        Assert.All(root.GetProperty("checks").EnumerateArray(), c => Assert.True(c.GetProperty("passed").GetBoolean(), c.GetProperty("name").GetString()));

        // Weight bytes per token, by hand: GRIFFIN keeps k = 24 of 48 neurons in layer 0 (the first half of 2 layers) and
        // reads 3·k·D of its FFN; CATS reads all of w_gate and k rows of w_up and w_down in both layers; an adapter of
        // rank r adds Lᵀ and R, 2·D·r elements, per sparsified layer.
        long dense = DenseBytes(e);
        Assert.Equal(dense, root.GetProperty("dense_step_weight_bytes").GetInt64());
        long ffn = 3 * H * D * e, k = 24, adapter = 2 * D * rank * e;
        long griffin = dense - ffn + 3 * k * D * e;
        long cats = dense - Layers * ffn + Layers * (H * D + 2 * k * D) * e;
        var expectedBytes = new Dictionary<string, double>
        {
            ["dense"] = dense,
            ["griffin"] = griffin,
            ["griffin-unmerged"] = griffin + adapter,
            ["caprese-griffin"] = griffin + adapter,
            ["cats"] = cats,
            ["caprese-cats"] = cats + Layers * adapter,
            // A round: γ Caprese draft steps and one dense pass, over E tokens.
            ["speculative"] = (gamma * (griffin + adapter) + dense) / specAal,
            ["sirius"] = (kernel * (griffin + adapter) + dense) / siriusAal,
        };

        var rows = root.GetProperty("rows").EnumerateArray().ToDictionary(x => x.GetProperty("key").GetString()!);
        Assert.Equal(expectedBytes.Keys.Order(), rows.Keys.Order());
        double copy = root.GetProperty("copy_gb_per_second").GetProperty("median").GetDouble();
        Assert.True(copy > 0);
        double[] denseMs = Samples(rows["dense"]);
        foreach (var (key, bytes) in expectedBytes)
        {
            var row = rows[key];
            Assert.Equal(bytes, row.GetProperty("weight_bytes_per_token").GetDouble(), 6);
            double ideal = bytes / dense;
            Assert.Equal(ideal, row.GetProperty("byte_ideal_ratio").GetDouble(), 12);

            // Every figure recomputed from the row's own per-round samples.
            double[] ms = Samples(row);
            Assert.Equal(3, ms.Length);
            Assert.All(ms, v => Assert.True(v > 0 && double.IsFinite(v), $"{key}: {v} ms"));
            double median = ms.Order().ElementAt(1);
            Assert.Equal(median, row.GetProperty("ms_per_token").GetProperty("median").GetDouble(), 12);
            double ratio = ms.Select((v, i) => v / denseMs[i]).Order().ElementAt(1);
            Assert.Equal(ratio, row.GetProperty("ratio").GetDouble(), 12);
            Assert.Equal(100 * (ratio / ideal - 1), row.GetProperty("gap_percent").GetDouble(), 9);
            Assert.Equal(bytes / (median * 1e6), row.GetProperty("weight_gb_per_second").GetDouble(), 9);
            Assert.Equal(100 * bytes / (copy * 1e6) / median, row.GetProperty("percent_of_roofline").GetDouble(), 9);
            var within = row.GetProperty("within_five_percent_of_ideal");
            if (key == "dense")
                Assert.Equal(JsonValueKind.Null, within.ValueKind);
            else
                Assert.Equal(Math.Abs(100 * (ratio / ideal - 1)) <= 5, within.GetBoolean());
        }
        Assert.Equal(1.0, rows["dense"].GetProperty("ratio").GetDouble(), 12);

        // Adapter rows against their sparse rows; only merged ones carry the 3% goal.
        foreach (var (key, baseline, merged) in new[] { ("griffin-unmerged", "griffin", false), ("caprese-griffin", "griffin", true), ("caprese-cats", "cats", true) })
        {
            var row = rows[key];
            Assert.Equal(baseline, row.GetProperty("sparse_baseline").GetString());
            double[] own = Samples(row), sparse = Samples(rows[baseline]);
            double over = own.Select((v, i) => 100 * (v / sparse[i] - 1)).Order().ElementAt(1);
            Assert.Equal(over, row.GetProperty("over_sparse_percent").GetDouble(), 9);
            var goal = row.GetProperty("merged_within_three_percent");
            if (merged)
                Assert.Equal(over <= 3, goal.GetBoolean());
            else
                Assert.Equal(JsonValueKind.Null, goal.ValueKind);
        }

        // Projected rows: per round (γ·t_draft + t_verify) / E, the draft being the measured merged Caprese row.
        double[] draftMs = Samples(rows["caprese-griffin"]);
        foreach (var (key, g, aal, logits) in new[] { ("speculative", gamma, specAal, false), ("sirius", kernel, siriusAal, true) })
        {
            var row = rows[key];
            Assert.Equal("projected", row.GetProperty("kind").GetString());
            var p = row.GetProperty("projection");
            Assert.Equal(g, p.GetProperty("draft_length").GetInt32());
            Assert.Equal(g + 1, p.GetProperty("verify_rows").GetInt32());
            Assert.Equal(logits, p.GetProperty("verify_logits_to_host").GetBoolean());
            Assert.Equal("caprese-griffin", p.GetProperty("draft_row").GetString());
            Assert.Equal(aal, p.GetProperty("tokens_per_round").GetDouble());
            double[] verify = [.. p.GetProperty("verify_pass_samples_ms").EnumerateArray().Select(v => v.GetDouble())];
            double[] own = Samples(row);
            for (int i = 0; i < own.Length; i++)
            {
                Assert.True(verify[i] > 0, $"{key}: verification pass {verify[i]} ms");
                Assert.Equal((g * draftMs[i] + verify[i]) / aal, own[i], 9);
            }
        }

        var goals = root.GetProperty("goals");
        Assert.Equal(7, goals.GetProperty("rows_compared").GetInt32());
        Assert.Equal(2, goals.GetProperty("merged_compared").GetInt32());
        Assert.Equal(rows.Values.Count(x => x.GetProperty("within_five_percent_of_ideal") is { ValueKind: JsonValueKind.True }),
            goals.GetProperty("rows_within_five_percent").GetInt32());
    }

    [Fact]
    public void ADiagnosticRowTimesTheOtherGriffinPathAtTheSameByteIdeal()
    {
        string json = Path.Combine(_dir, "paths.json");
        var r = CapreseProcess.Run(_dir, "bench-latency", "--preset", "tiny-llama", "--context", "8", "--tokens", "2", "--rounds", "2",
            "--rank", "2", "--extra-griffin-path", "gather", "--json", json);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("(compact)", r.Stdout); // auto compacts the kept rows
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var rows = doc.RootElement.GetProperty("rows").EnumerateArray().ToDictionary(x => x.GetProperty("key").GetString()!);
        Assert.Contains("gather, diagnostic", rows["griffin-gather"].GetProperty("label").GetString());
        long e = 2, dense = DenseBytes(e), griffin = dense - 3 * H * D * e + 3 * 24 * D * e;
        Assert.Equal((double)griffin / dense, rows["griffin-gather"].GetProperty("byte_ideal_ratio").GetDouble(), 12);
        Assert.Equal(rows["griffin"].GetProperty("byte_ideal_ratio").GetDouble(), rows["griffin-gather"].GetProperty("byte_ideal_ratio").GetDouble(), 12);
        Assert.Equal(8, doc.RootElement.GetProperty("goals").GetProperty("rows_compared").GetInt32());
    }

    [Fact]
    public void TheSuiteRunsOnTheCudaCodePathThroughTheSimulator()
    {
        // What a GPU run does, on the simulator: device memory, GRIFFIN's compact path by default, events for the copy.
        string plugin = Path.Combine(CapreseProcess.CliDirectory, "libcaprese_cudasim.so");
        Assert.SkipUnless(File.Exists(plugin), $"no CUDA simulator plugin at {plugin}");
        string json = Path.Combine(_dir, "sim.json");
        var r = CapreseProcess.Run(_dir, "bench-latency", "--preset", "tiny-llama", "--backend", "cuda-sim", "--context", "8", "--tokens", "2",
            "--rounds", "2", "--rank", "2", "--json", json);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("(compact)", r.Stdout); // auto is compact on device memory
        Assert.Contains("cuda-sim: CUDA kernels simulated on the CPU", r.Stdout);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal("cuda-sim", doc.RootElement.GetProperty("backend").GetString());
        Assert.All(doc.RootElement.GetProperty("checks").EnumerateArray(), c => Assert.True(c.GetProperty("passed").GetBoolean(), c.GetProperty("name").GetString()));
        Assert.Equal(8, doc.RootElement.GetProperty("rows").GetArrayLength());
    }

    [Theory]
    [InlineData("'gatherr'", "--extra-griffin-path", "gatherr")]
    [InlineData("--layers 3 exceeds tiny-llama's 2 layers", "--layers", "3")]
    [InlineData("--rank 33 exceeds tiny-llama's model dimension 32", "--rank", "33")]
    [InlineData("--rank must be >= 1", "--rank", "0")]
    [InlineData("--rounds must be >= 1", "--rounds", "0")]
    [InlineData("--tokens must be >= 1", "--tokens", "0")]
    [InlineData("--context must be >= 1", "--context", "0")]
    [InlineData("--gamma must be in 1..16, not 17", "--gamma", "17")]
    [InlineData("--kernel-size must be in 1..16, not 0", "--kernel-size", "0")]
    [InlineData("--sparsity must be in (0, 1)", "--sparsity", "1")]
    [InlineData("--speculative-aal 9.5: a round of γ = 8 drafts emits between 1 and 9 tokens", "--speculative-aal", "9.5")]
    [InlineData("--sirius-aal 0.5: a round of kernel size 16 emits between 1 and 17 tokens", "--sirius-aal", "0.5")]
    [InlineData("--plot writes a PNG", "--plot", "ratios.svg")]
    [InlineData("'q8'", "--weights", "q8")]
    [InlineData("'sliced'", "--griffin-path", "sliced")]
    public void BadOptionsAreUsageErrorsAndWriteNothing(string message, params string[] args)
    {
        string json = Path.Combine(_dir, "never.json");
        var r = CapreseProcess.Run(_dir, ["bench-latency", "--preset", "tiny-llama", .. args, "--json", json]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains(message, r.Stderr);
        Assert.DoesNotContain("| row |", r.Stdout);
        Assert.False(File.Exists(json));
    }

    [Fact]
    public void HelpSaysWhatTheDefaultRunMeasures()
    {
        var r = CapreseProcess.Run(_dir, "bench-latency", "--help");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("tinyllama-1.1b", r.Stdout);
        Assert.Contains("byte-ideal", r.Stdout);
        Assert.Contains("--speculative-aal", r.Stdout);
    }

    private static double[] Samples(JsonElement row) => [.. row.GetProperty("samples_ms").EnumerateArray().Select(v => v.GetDouble())];
}
