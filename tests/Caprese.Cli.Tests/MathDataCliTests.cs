namespace Caprese.Cli.Tests;

/// <summary>`gen-math` writes problem sets; `distill --problems` trains adapters on problems the dense model solves itself.</summary>
public sealed class MathDataCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("caprese-math-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void GenMathWritesDeterministicSplitsAndHonoursExclusions()
    {
        string a = Path.Combine(_dir, "a.jsonl"), b = Path.Combine(_dir, "b.jsonl"), t = Path.Combine(_dir, "t.jsonl");
        var r1 = CapreseProcess.Run(_dir, "gen-math", "--split", "train", "--count", "200", "--levels", "1", "--out", a);
        var r2 = CapreseProcess.Run(_dir, "gen-math", "--split", "train", "--count", "200", "--levels", "1", "--out", b);
        Assert.True(r1.ExitCode == 0, r1.Stderr);
        Assert.True(r2.ExitCode == 0, r2.Stderr);
        Assert.Equal(File.ReadAllText(a), File.ReadAllText(b));
        var lines = File.ReadAllLines(a);
        Assert.Equal(200, lines.Length);
        Assert.All(lines, l => Assert.Contains("####", l));

        var r3 = CapreseProcess.Run(_dir, "gen-math", "--split", "test", "--count", "100", "--levels", "1", "--exclude", a, "--out", t);
        Assert.True(r3.ExitCode == 0, r3.Stderr);
        var train = lines.Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement.GetProperty("question").GetString()).ToHashSet();
        Assert.DoesNotContain(File.ReadAllLines(t), l => train.Contains(System.Text.Json.JsonDocument.Parse(l).RootElement.GetProperty("question").GetString()));
    }

    [Fact]
    public void GenMathRefusesUnknownLevels()
    {
        var r = CapreseProcess.Run(_dir, "gen-math", "--levels", "1,7", "--out", Path.Combine(_dir, "x.jsonl"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("--levels", r.Stderr);
        Assert.False(File.Exists(Path.Combine(_dir, "x.jsonl")));
    }

    [Fact]
    public void DistillOnProblemsUsesTheQuestionsAsPromptsAndTheDenseAnswersAsContinuations()
    {
        string problems = Path.Combine(_dir, "p.jsonl"), adapter = Path.Combine(_dir, "p.safetensors");
        Assert.Equal(0, CapreseProcess.Run(_dir, "gen-math", "--count", "6", "--out", problems).ExitCode);
        var d = CapreseProcess.Run(_dir, "distill", "--out", adapter, "--problems", problems, "--samples", "5", "--continuation-tokens", "12",
            "--held-out", "0", "--stage1-epochs", "1", "--stage2-epochs", "1", "--rank", "2", "--eval-tokens", "0");
        Assert.True(d.ExitCode == 0, d.Stderr);
        Assert.Contains("corpus: 5 training + 0 held-out sequences", d.Stdout + d.Stderr);
        Assert.True(File.Exists(adapter));
    }

    [Theory]
    [InlineData("--corpus", "x.txt", "--problems and --corpus")]
    [InlineData("--prefix", "Think.", "--prefix applies to --corpus")]
    public void DistillRefusesProblemsWithAnotherCorpusOrAPrefix(string option, string value, string message)
    {
        string problems = Path.Combine(_dir, "p.jsonl");
        Assert.Equal(0, CapreseProcess.Run(_dir, "gen-math", "--count", "3", "--out", problems).ExitCode);
        var d = CapreseProcess.Run(_dir, "distill", "--out", Path.Combine(_dir, "a.safetensors"), "--problems", problems, option, value);
        Assert.Equal(1, d.ExitCode);
        Assert.Contains(message, d.Stderr);
    }
}
