namespace Caprese.Cli.Tests;

/// <summary>`caprese generate --decode ...`: the decoding methods from the command line, their statistics and their option checks.</summary>
public sealed class DecodeCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("caprese-decode-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // Greedy speculative decoding prints the dense text, plus its statistics; Sirius prints its own.
    [Fact]
    public void SpeculativeGreedyPrintsTheDenseTextAndItsStatistics()
    {
        var dense = CapreseProcess.Run(_dir, "generate", "-n", "40");
        var spec = CapreseProcess.Run(_dir, "generate", "-n", "40", "--decode", "speculative", "--draft-sparsity-method", "griffin", "--draft-length", "6");
        Assert.True(spec.ExitCode == 0, spec.Stderr);
        Assert.Equal(Text(dense.Stdout), Text(spec.Stdout));
        Assert.Matches(@"decoding: speculative γ=6: [0-9.]+ tokens per dense pass \(AAL\), \d+/\d+ drafts kept, effective density [0-9.]+\]", spec.Stdout);

        var sirius = CapreseProcess.Run(_dir, "generate", "-n", "40", "--decode", "sirius", "--sparsity-method", "cats", "--kernel-size", "8", "--threshold", "0.2");
        Assert.True(sirius.ExitCode == 0, sirius.Stderr);
        Assert.Contains("decoding: sirius kernel 8:", sirius.Stdout);
    }

    [Theory]
    [InlineData("--decode speculative", "drafts with a sparse model")]
    [InlineData("--decode judge --sparsity-method cats", "needs --judge FILE")]
    [InlineData("--kernel-size 4", "--kernel-size applies to --decode sirius, not dense")]
    [InlineData("--decode speculative --sparsity-method cats --threshold 0.3", "--threshold applies to --decode sirius, not speculative")]
    [InlineData("--decode sirius --sparsity-method cats --kernel-size 17", "--kernel-size must be in 1..16")]
    [InlineData("--decode nonsense", "nonsense")]
    [InlineData("--decode speculative --sparsity-method bogus", "bogus")]
    public void ConflictingOrOutOfRangeDecodingOptionsAreErrors(string args, string message)
    {
        var r = CapreseProcess.Run(_dir, ["generate", "-n", "4", .. args.Split(' ')]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains(message, r.Stderr + r.Stdout);
    }

    // The whole judge path from the command line: train a head on the draft's deviations, decode with it.
    [Fact]
    public void JudgeTrainThenGenerateWithTheHead()
    {
        string head = Path.Combine(_dir, "judge.safetensors");
        var t = CapreseProcess.Run(_dir, "judge-train", "--from-draft", "--sequences", "16", "--tokens", "16", "--epochs", "10", "--out", head);
        Assert.True(t.ExitCode == 0, t.Stderr);
        var g = CapreseProcess.Run(_dir, "generate", "-n", "32", "--decode", "judge", "--sparsity-method", "griffin", "--judge", head, "--judge-threshold", "0.3");
        Assert.True(g.ExitCode == 0, g.Stderr);
        Assert.Matches(@"decoding: judge γ=8: [0-9.]+ tokens per dense pass \(AAL\), \d+/\d+ drafts kept \(\d+ by the judge alone\)", g.Stdout);
    }

    [Fact]
    public void AJudgeFileThatIsNotOneIsAModelError()
    {
        string bogus = Path.Combine(_dir, "judge.safetensors");
        File.WriteAllText(bogus, "not a safetensors file");
        var r = CapreseProcess.Run(_dir, "generate", "-n", "4", "--decode", "judge", "--sparsity-method", "cats", "--judge", bogus);
        Assert.Equal(3, r.ExitCode);
        Assert.Contains("judge.safetensors", r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);
    }

    // The generated text: everything before the statistics line.
    private static string Text(string stdout) => stdout[..stdout.LastIndexOf("[prompt tokens", StringComparison.Ordinal)];
}

/// <summary>`caprese eval-decoding`: the decoding methods scored against dense greedy decoding, table and JSON.</summary>
public sealed class EvalDecodingCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("caprese-evaldecoding-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void ScoresEveryMethodAndWritesJsonAndMarkdown()
    {
        string json = Path.Combine(_dir, "out", "eval.json"), md = Path.Combine(_dir, "out", "eval.md");
        var r = CapreseProcess.Run(_dir, "eval-decoding", "--sequences", "3", "--tokens", "24", "--sparsity", "0.8", "--json", json, "--md", md);
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(json));
        var rows = doc.RootElement.GetProperty("rows").EnumerateArray().ToDictionary(e => e.GetProperty("label").GetString()!);
        Assert.Equal(["dense", "sparse", "speculative (sparse draft)", "sirius (sparse)"], rows.Keys);
        Assert.Equal(1.0, rows["dense"].GetProperty("greedy_agreement").GetDouble());
        Assert.Equal(1.0, rows["speculative (sparse draft)"].GetProperty("greedy_agreement").GetDouble());
        Assert.True(rows["sparse"].GetProperty("greedy_agreement").GetDouble() < 1.0);
        Assert.True(rows["sparse"].GetProperty("kl").GetDouble() > 0);
        Assert.Equal(System.Text.Json.JsonValueKind.Null, rows["sirius (sparse)"].GetProperty("kl").ValueKind);
        Assert.True(rows["sirius (sparse)"].GetProperty("average_advance").GetDouble() >= 1.0);
        Assert.Contains("| speculative (sparse draft) | 100.0% | 3/3 |", File.ReadAllText(md));
        Assert.Empty(Directory.GetFiles(Path.Combine(_dir, "out"), "*.tmp-*"));
    }
}
