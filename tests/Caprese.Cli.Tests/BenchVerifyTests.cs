using System.Text.Json;

namespace Caprese.Cli.Tests;

/// <summary>`caprese bench-verify` as a user runs it: the report's structure on a tiny preset, and its usage errors.</summary>
public sealed class BenchVerifyTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("caprese-bench-verify-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void TinyPresetReportsEveryRowCountAndProjectsWithTheFormula()
    {
        string json = Path.Combine(_dir, "out", "verify.json");
        string png = Path.Combine(_dir, "out", "verify.png");
        var r = CapreseProcess.Run(_dir, "bench-verify", "--preset", "tiny-llama", "--context", "16", "--repeats", "3", "--max-rows", "4",
            "--gamma", "2,4", "--aal", "2.5,3", "--acceptance", "0.5,1", "--json", json, "--plot", png, "--note", "test run");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("| k rows | verify median ms |", r.Stdout);
        Assert.Contains("note: test run", r.Stdout);
        Assert.Contains("argmax ids equal", r.Stderr);
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(json)!, "*.tmp*"));
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, File.ReadAllBytes(png)[..4]);

        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var root = doc.RootElement;
        Assert.Equal("tiny-llama", root.GetProperty("preset").GetString());
        Assert.Equal(2, root.GetProperty("layers").GetInt32());
        Assert.Equal("cpu", root.GetProperty("backend").GetString());
        Assert.Equal(16, root.GetProperty("context").GetInt32());
        Assert.True(root.GetProperty("threads").GetInt32() > 0);
        foreach (var key in new[] { "commit", "caprese_version", "device", "machine", "timestamp_utc", "draft_policy" })
            Assert.False(string.IsNullOrWhiteSpace(root.GetProperty(key).GetString()), key);
        Assert.StartsWith("griffin 50%", root.GetProperty("draft_policy").GetString());
        Assert.True(root.GetProperty("check").GetProperty("argmax_equal").GetBoolean());
        Assert.Equal(5, root.GetProperty("check").GetProperty("rows").GetInt32());

        double dense = Median(root.GetProperty("dense_step"));
        double draft = Median(root.GetProperty("draft_step"));
        Assert.Equal(3, root.GetProperty("dense_step").GetProperty("samples").GetInt32());
        Assert.True(root.GetProperty("draft_step_weight_bytes").GetDouble() < root.GetProperty("dense_step_weight_bytes").GetDouble());

        // k = 1..4 for the curve, and γ + 1 = 3 and 5 for the projections: 1..5, each once, in order.
        var verify = root.GetProperty("verify").EnumerateArray().ToList();
        Assert.Equal([1, 2, 3, 4, 5], verify.Select(v => v.GetProperty("rows").GetInt32()));
        var medians = new Dictionary<int, double>();
        foreach (var v in verify)
        {
            int k = v.GetProperty("rows").GetInt32();
            var time = v.GetProperty("time");
            medians[k] = Median(time);
            Assert.True(time.GetProperty("min_ms").GetDouble() <= medians[k] && medians[k] <= time.GetProperty("max_ms").GetDouble());
            double ratio = v.GetProperty("ratio").GetDouble();
            Assert.True(v.GetProperty("ratio_p25").GetDouble() <= ratio && ratio <= v.GetProperty("ratio_p75").GetDouble());
            Assert.Equal(ratio / k, v.GetProperty("ratio_per_row").GetDouble(), 9);
            // Loose sanity only (the machine is shared): a pass over k rows is neither free nor absurdly slow.
            Assert.True(ratio > 0.02 && ratio < 50 * k, $"t_verify({k}) / t_dense(1) = {ratio}");
        }

        var roofline = root.GetProperty("roofline");
        Assert.True(roofline.GetProperty("copy_gb_per_second").GetDouble() > 0);
        Assert.Equal(root.GetProperty("dense_step_weight_bytes").GetDouble() / (roofline.GetProperty("copy_gb_per_second").GetDouble() * 1e6),
            roofline.GetProperty("dense_step_ms").GetDouble(), 9);

        // Per γ: the measured AAL, then α = 0.5 and α = 1; every speed-up recomputed from the report's own medians.
        var projections = root.GetProperty("projections").EnumerateArray().ToList();
        Assert.Equal(6, projections.Count);
        var expected = new (int Gamma, string Source, double E)[]
        {
            (2, "aal", 2.5), (2, "acceptance", 1.75), (2, "acceptance", 3), (4, "aal", 3), (4, "acceptance", 1.9375), (4, "acceptance", 5),
        };
        for (int i = 0; i < expected.Length; i++)
        {
            var p = projections[i];
            var (gamma, source, e) = expected[i];
            Assert.Equal(gamma, p.GetProperty("gamma").GetInt32());
            Assert.Equal(source, p.GetProperty("source").GetString());
            Assert.Equal(e, p.GetProperty("tokens_per_round").GetDouble(), 9);
            double round = gamma * draft + medians[gamma + 1];
            Assert.Equal(round, p.GetProperty("round_ms").GetDouble(), 9);
            Assert.Equal(e * dense / round, p.GetProperty("speed_up").GetDouble(), 9);
            Assert.Equal(e * dense / (gamma * draft + dense), p.GetProperty("speed_up_if_verify_flat").GetDouble(), 9);
            Assert.Equal((e - medians[gamma + 1] / dense) / gamma, p.GetProperty("break_even_draft_ratio").GetDouble(), 9);
        }
    }

    [Theory]
    [InlineData("--layers 3 exceeds tiny-llama's 2 layers", "--preset", "tiny-llama", "--layers", "3")]
    [InlineData("--max-rows must be in 1..16", "--preset", "tiny-llama", "--max-rows", "0")]
    [InlineData("--max-rows must be in 1..16", "--preset", "tiny-llama", "--max-rows", "17")]
    [InlineData("--gamma must be comma-separated integers in 1..16", "--preset", "tiny-llama", "--gamma", "4,17")]
    [InlineData("--acceptance must be comma-separated numbers in [0, 1]", "--preset", "tiny-llama", "--acceptance", "1.5")]
    [InlineData("--aal gives 1 value(s) for 3 --gamma value(s)", "--preset", "tiny-llama", "--aal", "2")]
    [InlineData("a round emits at most γ + 1 = 5 tokens", "--preset", "tiny-llama", "--gamma", "4", "--aal", "5.5")]
    [InlineData("--plot writes a PNG", "--preset", "tiny-llama", "--plot", "curve.svg")]
    [InlineData("--repeats must be >= 1", "--preset", "tiny-llama", "--repeats", "0")]
    public void BadOptionsAreUsageErrorsAndWriteNothing(string message, params string[] args)
    {
        string json = Path.Combine(_dir, "never.json");
        var r = CapreseProcess.Run(_dir, ["bench-verify", .. args, "--json", json]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains(message, r.Stderr);
        Assert.DoesNotContain("| k rows |", r.Stdout);
        Assert.False(File.Exists(json));
    }

    [Fact]
    public void HelpSaysWhatTheDefaultRunMeasures()
    {
        var r = CapreseProcess.Run(_dir, "bench-verify", "--help");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("tinyllama-1.1b", r.Stdout);
        Assert.Contains("GRIFFIN 50%", r.Stdout);
    }

    private static double Median(JsonElement timing)
    {
        double v = timing.GetProperty("median_ms").GetDouble();
        Assert.True(v > 0 && double.IsFinite(v), $"median {v}");
        return v;
    }
}
