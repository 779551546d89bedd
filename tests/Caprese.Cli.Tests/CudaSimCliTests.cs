using System.Text.RegularExpressions;

namespace Caprese.Cli.Tests;

/// <summary>
/// `--backend cuda-sim` as a user meets it: `info` and every run say it is a simulator and slow, it decodes what the CPU
/// backend decodes, and it never stands in for `--backend cuda`.
/// </summary>
public sealed class CudaSimCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("caprese-cli-sim-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Skips unless the simulator plugin was built next to the CLI (a native tree with CAPRESE_CUDA_SIM=OFF has none).</summary>
    private static void RequireSimulatorPlugin()
    {
        string plugin = Path.Combine(CapreseProcess.CliDirectory, "libcaprese_cudasim.so");
        Assert.SkipUnless(File.Exists(plugin), $"no CUDA simulator plugin at {plugin}");
    }

    private static bool CudaAvailable(string infoStdout) => Regex.IsMatch(infoStdout, @"^\s*cuda\s+available", RegexOptions.Multiline);

    [Fact]
    public void InfoListsTheSimulatorAndItsDevice_AsSimulatedAndSlow()
    {
        RequireSimulatorPlugin();
        var r = CapreseProcess.Run(_dir, "info");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Matches(new Regex(@"^\s*cuda-sim\s+available \(.*simulated on the CPU.*slow", RegexOptions.Multiline), r.Stdout);
        Assert.Matches(new Regex(@"^cuda-sim devices \(simulated.*\): 1$", RegexOptions.Multiline), r.Stdout);
        Assert.Matches(new Regex(@"^\s*\[0\] .*cuda-sim: simulated.*not this machine's\)$", RegexOptions.Multiline), r.Stdout);
        // The simulated device is not listed as a CUDA GPU.
        if (!CudaAvailable(r.Stdout))
            Assert.Matches(new Regex(@"^cuda devices: 0$", RegexOptions.Multiline), r.Stdout);
    }

    [Fact]
    public void GreedyGenerateOnTheSimulatorGivesTheCpuBackendsText()
    {
        // The CUDA kernels sum in other orders than the CPU's, but on stories260K greedy decoding has margins far above
        // that: the Models tests check both backends against the model's published reference ids.
        RequireSimulatorPlugin();
        var cpu = CapreseProcess.Run(_dir, "generate", "--backend", "cpu", "--max-tokens", "24");
        var sim = CapreseProcess.Run(_dir, "generate", "--backend", "cuda-sim", "--max-tokens", "24");
        Assert.True(cpu.ExitCode == 0, cpu.Stderr);
        Assert.True(sim.ExitCode == 0, sim.Stderr);
        Assert.Equal(Text(cpu.Stdout), Text(sim.Stdout));
        Assert.Contains("generated tokens: 24", sim.Stdout);
        Assert.Contains("backend: cuda-sim (CUDA simulator", sim.Stdout);
        Assert.Contains("note: --backend cuda-sim runs the CUDA kernels on the CPU", sim.Stderr);
        Assert.DoesNotContain("cuda-sim", cpu.Stderr + cpu.Stdout);
    }

    [Fact]
    public void CudaWithOnlyTheSimulatorIsAnErrorThatNamesTheSimulator_NotARunOnIt()
    {
        RequireSimulatorPlugin();
        Assert.SkipWhen(CudaAvailable(CapreseProcess.Run(_dir, "info").Stdout), "this machine has a usable CUDA device");
        var r = CapreseProcess.Run(_dir, "generate", "--backend", "cuda", "--max-tokens", "4");
        Assert.Equal(2, r.ExitCode);
        Assert.Empty(r.Stdout);
        Assert.StartsWith("error: CUDA backend unavailable", r.Stderr);
        Assert.Contains("--backend cuda-sim", r.Stderr);
        Assert.DoesNotContain("note: --backend cuda-sim runs", r.Stderr); // nothing was started on it
    }

    [Fact]
    public void ADeviceOrdinalPastTheSimulatorsOneDeviceIsOneError()
    {
        RequireSimulatorPlugin();
        var r = CapreseProcess.Run(_dir, "generate", "--backend", "cuda-sim", "--device", "1", "--max-tokens", "4");
        Assert.Equal(1, r.ExitCode);
        Assert.Empty(r.Stdout);
        Assert.Equal("error: --device 1: the cuda-sim backend has 1 device (see `caprese info`)", r.Stderr.Trim());
    }

    // The whole-decode-step harness of the GPU plan: eager against graph-replayed steps, the same tokens, and the
    // per-token native calls the graph saves (one token copy, one launch, one argmax copy).
    [Fact]
    public void BenchCudaGraphsComparesEagerAndGraphStepsWithTheSameTokens()
    {
        RequireSimulatorPlugin();
        string json = Path.Combine(_dir, "bench.json");
        var r = CapreseProcess.Run(_dir, "bench", "--preset", "tiny-llama", "--backend", "cuda-sim", "--weights", "f32",
            "--prompt-tokens", "6", "--decode-tokens", "8", "--cuda-graphs", "--json", json);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Matches(new Regex(@"\[cuda graphs, 8 steps each.*\(3 calls/token\).*tokens identical; graph session: 1 warm-up, 1 capture, 9 replays, 0 eager\]"), r.Stdout);
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(json));
        var graphs = doc.RootElement.GetProperty("cuda_graphs");
        Assert.True(graphs.GetProperty("tokens_match").GetBoolean());
        Assert.Equal(3, graphs.GetProperty("graph_calls_per_token").GetDouble());
        Assert.True(graphs.GetProperty("eager_calls_per_token").GetDouble() > 20);

        var cpu = CapreseProcess.Run(_dir, "bench", "--preset", "tiny-llama", "--backend", "cpu", "--cuda-graphs");
        Assert.Equal(1, cpu.ExitCode);
        Assert.Contains("--cuda-graphs needs a device backend", cpu.Stderr);
    }

    /// <summary>The generated text: stdout without the closing statistics line (its timings and backend name differ).</summary>
    private static string Text(string stdout) =>
        string.Join('\n', stdout.TrimEnd().Split('\n').Where(line => !line.StartsWith("[prompt tokens:", StringComparison.Ordinal)));
}
