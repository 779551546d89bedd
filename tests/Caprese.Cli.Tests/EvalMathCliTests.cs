using System.Text.Json;

namespace Caprese.Cli.Tests;

/// <summary>`caprese eval-math`: the math harness from the command line, its outputs and its input errors.</summary>
public sealed class EvalMathCliTests : IDisposable
{
    private const string ThreeProblems =
        "{\"question\": \"Tom has 3 apples and buys 4 more. How many apples?\", \"answer\": \"3 + 4 = 7\\n#### 7\"}\n" +
        "\n" +
        "{\"question\": \"Lily had 10 cookies and ate 2. How many are left?\", \"answer\": \"#### 8\"}\n" +
        "{\"question\": \"Sue has $1,200 and spends half. How much is left?\", \"answer\": \"#### 600\"}\n";

    private readonly string _dir = Directory.CreateTempSubdirectory("caprese-evalmath-").FullName;

    public EvalMathCliTests() => File.WriteAllText(Path.Combine(_dir, "problems.jsonl"), ThreeProblems);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void WritesTheSummaryTableJsonAndMarkdown()
    {
        string json = Path.Combine(_dir, "out", "math.json"), md = Path.Combine(_dir, "out", "math.md");
        var r = CapreseProcess.Run(_dir, "eval-math", "--data", "problems.jsonl", "--max-tokens", "16", "--json", json, "--markdown", md);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("| problems | correct | accuracy [95% Wilson] |", r.Stdout);
        Assert.Contains("3/3", r.Stderr); // the progress bar's last line

        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var root = doc.RootElement;
        Assert.Equal("eval-math", root.GetProperty("command").GetString());
        var config = root.GetProperty("configuration");
        Assert.Equal("qa", config.GetProperty("prompt_format").GetString());
        Assert.Equal(16, config.GetProperty("max_tokens").GetInt32());
        Assert.Equal("dense", config.GetProperty("decoding").GetString());
        Assert.False(string.IsNullOrEmpty(config.GetProperty("commit").GetString()));
        var summary = root.GetProperty("summary");
        Assert.Equal(3, summary.GetProperty("problems").GetInt32());
        Assert.Equal(1.0, summary.GetProperty("dense_passes_per_token").GetDouble());
        Assert.True(summary.GetProperty("accuracy_upper").GetDouble() > 0);
        var problems = root.GetProperty("problems").EnumerateArray().ToList();
        Assert.Equal([0, 1, 2], problems.Select(p => p.GetProperty("index").GetInt32()));
        Assert.Equal([7m, 8m, 600m], problems.Select(p => p.GetProperty("reference").GetDecimal()));
        Assert.All(problems, p =>
        {
            Assert.InRange(p.GetProperty("generated_tokens").GetInt32(), 1, 16);
            Assert.Equal(JsonValueKind.String, p.GetProperty("text").ValueKind);
            Assert.True(p.TryGetProperty("predicted", out _) && p.TryGetProperty("correct", out _));
            Assert.Equal(JsonValueKind.String, p.GetProperty("stop_reason").ValueKind);
        });

        string markdown = File.ReadAllText(md);
        Assert.Contains("eval-math: problems.jsonl (3 of 3 problems", markdown);
        Assert.Contains("|---:|", markdown);
        Assert.Equal(r.Stdout, markdown);
        Assert.Equal(["math.json", "math.md"], Directory.GetFiles(Path.Combine(_dir, "out")).Select(Path.GetFileName).Order());
    }

    // A shard with a sparse draft and speculative decoding: only its problems, and the method's counters.
    [Fact]
    public void AShardWithSpeculativeDecodingReportsItsProblemsAndDensePasses()
    {
        string json = Path.Combine(_dir, "spec.json");
        var r = CapreseProcess.Run(_dir, "eval-math", "--data", "problems.jsonl", "-n", "24", "--shard", "1/2",
            "--decode", "speculative", "--sparsity-method", "griffin", "--draft-length", "4", "--json", json);
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal([1], doc.RootElement.GetProperty("problems").EnumerateArray().Select(p => p.GetProperty("index").GetInt32()));
        var summary = doc.RootElement.GetProperty("summary");
        Assert.InRange(summary.GetProperty("dense_passes_per_token").GetDouble(), 0.2, 1.0);
        Assert.True(summary.GetProperty("average_advance").GetDouble() >= 1.0);
        Assert.Equal(4, doc.RootElement.GetProperty("configuration").GetProperty("draft_length").GetInt32());
    }

    [Fact]
    public void AMalformedLineIsAnInputErrorNamingTheLine()
    {
        File.WriteAllText(Path.Combine(_dir, "bad.jsonl"), "{\"question\": \"q\", \"answer\": \"#### 1\"}\n{\"question\": \"q2\", \"answer\": 5}\n");
        string json = Path.Combine(_dir, "bad.json");
        var r = CapreseProcess.Run(_dir, "eval-math", "--data", "bad.jsonl", "--json", json);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("bad.jsonl: line 2: \"answer\" is number, not a string", r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);
        Assert.False(File.Exists(json));
    }

    // Ctrl+C after the first problem: "cancelled", exit 130, no half-written results.
    [Fact]
    public void InterruptingStopsAtOnceAndWritesNothing()
    {
        File.WriteAllText(Path.Combine(_dir, "many.jsonl"), string.Concat(Enumerable.Repeat(ThreeProblems, 200)));
        string json = Path.Combine(_dir, "many.json");
        var r = CapreseProcess.Run(_dir, line => line.StartsWith("eval ", StringComparison.Ordinal),
            "eval-math", "--data", "many.jsonl", "--max-tokens", "256", "--json", json);
        Assert.Equal(130, r.ExitCode);
        Assert.Contains("cancelled", r.Stderr);
        Assert.False(File.Exists(json));
    }

    [Theory]
    [InlineData("error: --data: Could not find file", "--data", "missing.jsonl")]
    [InlineData("selects none of the first 1 problems", "--data", "problems.jsonl", "--limit", "1", "--shard", "1/2")]
    [InlineData("--shard must be i/n", "--data", "problems.jsonl", "--shard", "2/2")]
    [InlineData("--calibration does not apply to griffin", "--data", "problems.jsonl", "--sparsity-method", "griffin", "--calibration", "problems.jsonl")]
    [InlineData("--kernel-size applies to --decode sirius, not dense", "--data", "problems.jsonl", "--kernel-size", "4")]
    public void BadRequestsAreInputErrors(string message, params string[] args)
    {
        var r = CapreseProcess.Run(_dir, ["eval-math", .. args]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains(message, r.Stderr + r.Stdout);
        Assert.DoesNotContain("   at ", r.Stderr);
    }
}
