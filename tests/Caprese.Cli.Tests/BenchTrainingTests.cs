using System.Text.Json;
using System.Text.RegularExpressions;

namespace Caprese.Cli.Tests;

/// <summary>`caprese bench-training` as a user runs it: figures on the embedded model, and its errors.</summary>
public sealed class BenchTrainingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("caprese-bench-training-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void TheEmbeddedModelTrainsAtAPositiveRateInBothStagesAndTheJsonSaysSo()
    {
        string json = Path.Combine(_dir, "out", "training.json");
        var r = CapreseProcess.Run(_dir, "bench-training", "--model", "--tokens", "12", "--prompt-tokens", "4", "--batch", "2",
            "--steps", "2", "--stage1-batch", "16", "--stage1-steps", "3", "--rank", "4", "--json", json);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("stories260K (embedded)", r.Stdout);
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(json)!, "*.tmp-*"));

        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var root = doc.RootElement;
        Assert.Equal("file", root.GetProperty("source").GetString());
        Assert.Equal("cpu", root.GetProperty("backend").GetString());
        Assert.Equal(4, root.GetProperty("rank").GetInt32());
        Assert.Equal(12, root.GetProperty("stage2_tokens_per_sequence").GetInt32());
        foreach (var key in new[] { "stage1_rows_per_second", "stage1_rows_per_second_total", "stage1_tokens_per_second",
                     "stage2_tokens_per_second", "stage2_tokens_per_second_total", "stage2_continuation_tokens_per_second" })
        {
            double v = root.GetProperty(key).GetDouble();
            Assert.True(v > 0 && double.IsFinite(v), $"{key} = {v}");
        }
        Assert.True(root.GetProperty("host_peak_working_set_bytes").GetInt64() > 0);
    }

    [Fact]
    public void CudaOnAMachineWithoutItIsOneClearErrorNotACpuFallback()
    {
        var probe = CapreseProcess.Run(_dir, "info");
        Assert.SkipWhen(Regex.IsMatch(probe.Stdout, @"^\s*cuda\s+available", RegexOptions.Multiline), "this machine has a usable CUDA device");
        string json = Path.Combine(_dir, "never.json");
        var r = CapreseProcess.Run(_dir, "bench-training", "--preset", "tiny-llama", "--backend", "cuda", "--json", json);
        Assert.Equal(2, r.ExitCode);
        // One error (the native reason spans lines: it lists each path it tried), and nothing run anywhere else.
        Assert.StartsWith("error: CUDA backend unavailable", r.Stderr);
        Assert.Single(Regex.Matches(r.Stderr, "^error: ", RegexOptions.Multiline));
        Assert.DoesNotContain("note: --backend cuda-sim runs", r.Stderr);
        Assert.Empty(r.Stdout);
        Assert.False(File.Exists(json));
    }

    [Fact]
    public void BadArgumentsAreRefusedBeforeAnyModelIsBuilt()
    {
        var both = CapreseProcess.Run(_dir, "bench-training", "--model", "--preset", "tiny-llama");
        Assert.Equal(1, both.ExitCode);
        Assert.StartsWith("error: --preset and --model are exclusive", both.Stderr);

        var prompt = CapreseProcess.Run(_dir, "bench-training", "--preset", "tiny-llama", "--tokens", "8", "--prompt-tokens", "8");
        Assert.Equal(1, prompt.ExitCode);
        Assert.StartsWith("error: --prompt-tokens (8) must be below --tokens (8)", prompt.Stderr);
    }
}
