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
