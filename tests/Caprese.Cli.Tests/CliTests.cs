using System.Globalization;
using System.Text.RegularExpressions;

namespace Caprese.Cli.Tests;

/// <summary>The `caprese` commands as a user runs them: the README's main command, distill, generate with adapters, errors.</summary>
public sealed class CliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("caprese-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void DemoTrainsAdaptersThatClosePartOfTheSparseModelsKlGap()
    {
        var r = CapreseProcess.Run(_dir, "demo", "--samples", "64", "--stage2-epochs", "2", "--eval-tokens", "32");
        Assert.True(r.ExitCode == 0, r.Stderr);
        double sparse = Kl(r.Stdout, "sparse"), caprese = Kl(r.Stdout, "caprese");
        Assert.Equal(0, Kl(r.Stdout, "dense"));
        Assert.True(sparse > 0.1, r.Stdout);
        Assert.True(caprese < sparse, $"caprese KL {caprese} not below sparse {sparse}\n{r.Stdout}");
        Assert.Contains("greedy continuations of \"Once upon a time\"", r.Stdout);
    }

    [Fact]
    public void DistillWritesAdaptersAndALossPlotThatGenerateAndDemoThenUse()
    {
        string adapter = Path.Combine(_dir, "out", "a.safetensors");
        var d = CapreseProcess.Run(_dir, "distill", "--out", adapter, "--samples", "24", "--continuation-tokens", "24",
            "--stage1-epochs", "2", "--stage2-epochs", "1", "--rank", "6", "--eval-tokens", "16");
        Assert.True(d.ExitCode == 0, d.Stderr);
        Assert.True(File.Exists(adapter));
        Assert.False(File.Exists(adapter + ".ckpt"), "the checkpoint is removed once the adapters are written");
        var png = File.ReadAllBytes(Path.Combine(_dir, "out", "a.loss.png"));
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png.Take(4));
        Assert.Contains("recovered:", d.Stdout);

        var g = CapreseProcess.Run(_dir, "generate", "--adapter", adapter, "--max-tokens", "8");
        Assert.True(g.ExitCode == 0, g.Stderr);
        Assert.Contains("sparsity: griffin 50% in layers 0..1, caprese adapters: rank 6, merged", g.Stdout);

        var demo = CapreseProcess.Run(_dir, "demo", "--adapter", adapter, "--eval-tokens", "8");
        Assert.True(demo.ExitCode == 0, demo.Stderr);
        Assert.Contains($"loaded from {adapter}", demo.Stdout);
    }

    [Fact]
    public void AnInterruptedDistillKeepsItsCheckpointAndTheSameCommandResumesFromIt()
    {
        string adapter = Path.Combine(_dir, "i.safetensors");
        string[] args = ["distill", "--out", adapter, "--samples", "48", "--continuation-tokens", "24", "--stage1-epochs", "2",
            "--stage2-epochs", "30", "--stage2-batch", "4", "--rank", "4", "--eval-tokens", "8"];
        // Ctrl+C once stage 2 has started: stage 1's layers are in the checkpoint by then.
        var first = CapreseProcess.Run(_dir, line => line.StartsWith("stage2", StringComparison.Ordinal), args);
        Assert.True(first.ExitCode == 130, $"exit {first.ExitCode}\n{first.Stderr}");
        Assert.Contains($"progress is in {adapter}.ckpt", first.Stderr);
        Assert.True(File.Exists(adapter + ".ckpt"));
        Assert.False(File.Exists(adapter));

        var second = CapreseProcess.Run(_dir, args);
        Assert.True(second.ExitCode == 0, second.Stderr);
        Assert.Contains($"resuming from {adapter}.ckpt", second.Stderr);
        Assert.DoesNotContain("stage1 ", second.Stderr); // stage 1 was done: not trained again
        Assert.True(File.Exists(adapter));
        Assert.False(File.Exists(adapter + ".ckpt"));
    }

    [Fact]
    public void ATruncatedAdapterFileIsAnErrorNamingTheFile()
    {
        string bad = Path.Combine(_dir, "bad.safetensors");
        File.WriteAllBytes(bad, [8, 0, 0, 0, 0, 0, 0, 0, (byte)'{']);
        var r = CapreseProcess.Run(_dir, "generate", "--adapter", bad, "--max-tokens", "4");
        Assert.Equal(3, r.ExitCode);
        Assert.StartsWith($"error: {bad}", r.Stderr);
    }

    [Fact]
    public void AdaptersForAnotherSparsityAreRefused()
    {
        string adapter = Path.Combine(_dir, "cats.safetensors");
        var d = CapreseProcess.Run(_dir, "distill", "--out", adapter, "--sparsity-method", "cats", "--samples", "8", "--continuation-tokens", "8",
            "--stage1-epochs", "1", "--stage2-epochs", "0", "--rank", "2", "--eval-tokens", "0");
        Assert.True(d.ExitCode == 0, d.Stderr);
        var r = CapreseProcess.Run(_dir, "generate", "--adapter", adapter, "--sparsity-method", "griffin", "--max-tokens", "4");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("trained for Cats", r.Stderr);
    }

    private static double Kl(string stdout, string row)
    {
        var m = Regex.Match(stdout, $@"^{row}\s+([0-9.]+)\s", RegexOptions.Multiline);
        Assert.True(m.Success, $"no '{row}' row in\n{stdout}");
        return double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
    }
}
