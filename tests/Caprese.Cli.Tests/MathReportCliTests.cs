namespace Caprese.Cli.Tests;

/// <summary>`math-report` turns eval-math results into the paper's table and the sweep plot.</summary>
public sealed class MathReportCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("caprese-math-report-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void ReportBuildsTheTableAndThePlotFromEvalMathResults()
    {
        string data = Path.Combine(_dir, "p.jsonl"), results = Path.Combine(_dir, "results");
        Assert.Equal(0, CapreseProcess.Run(_dir, "gen-math", "--count", "3", "--out", data).ExitCode);
        void Eval(string name, params string[] extra)
        {
            var r = CapreseProcess.Run(_dir, ["eval-math", "--data", data, "--max-tokens", "8", "--json", Path.Combine(results, name), .. extra]);
            Assert.True(r.ExitCode == 0, r.Stderr);
        }
        Eval("table-1-full.json");
        Eval("table-2-griffin.json", "--sparsity-method", "griffin", "--sparsity", "0.5");
        string adapter = Path.Combine(_dir, "a.safetensors");
        var d = CapreseProcess.Run(_dir, "distill", "--out", adapter, "--samples", "4", "--continuation-tokens", "8",
            "--stage1-epochs", "1", "--stage2-epochs", "0", "--rank", "2", "--eval-tokens", "0");
        Assert.True(d.ExitCode == 0, d.Stderr);
        Eval("table-3-caprese.json", "--adapter", adapter);
        Eval("sweep-griffin-0.25-sparse.json", "--sparsity-method", "griffin", "--sparsity", "0.25");
        Eval("sweep-griffin-0.5-sparse.json", "--sparsity-method", "griffin", "--sparsity", "0.5");

        string md = Path.Combine(_dir, "report.md");
        var report = CapreseProcess.Run(_dir, "math-report", "--results", results, "--out", md);
        Assert.True(report.ExitCode == 0, report.Stderr);
        string text = File.ReadAllText(md);
        Assert.Contains("| full (dense) | 3 |", text);
        Assert.Contains("| griffin 50% layers 0-1 | 3 |", text);
        Assert.Contains("## Sweep", text);
        // The Caprese row is paired with the sparse row of the same method, sparsity and layers.
        Assert.Matches(@"Caprese: griffin 50% layers 0-1 \+ caprese r2 \(merged\): recovers (–|-?\d+%)", text);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(Path.Combine(_dir, "report.png")).Take(4));
    }

    [Fact]
    public void ReportRefusesAFolderWithoutResults()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "empty"));
        var r = CapreseProcess.Run(_dir, "math-report", "--results", Path.Combine(_dir, "empty"), "--out", Path.Combine(_dir, "x.md"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("no table-*.json or sweep-*.json", r.Stderr);
        Assert.False(File.Exists(Path.Combine(_dir, "x.md")));
    }
}
