using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Caprese.Benchmarks.DecodePeers;

/// <summary>
/// llama2.c's run.c, built by the user (`gcc -Ofast -fopenmp run.c -lm -o run`), on the llama2.c
/// checkpoint of the f32 weights: one process per round, greedy (-t 0), OMP_NUM_THREADS threads.
/// It times its own decode loop (from the second token on) and prints "achieved tok/s: X".
/// </summary>
public static partial class RunCPeer
{
    public static double TokensPerSecond(string runc, string checkpoint, string tokenizer, int tokens, int threads)
    {
        var start = new ProcessStartInfo(runc) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { checkpoint, "-z", tokenizer, "-t", "0", "-n", (tokens + 1).ToString(CultureInfo.InvariantCulture) })
            start.ArgumentList.Add(a);
        start.Environment["OMP_NUM_THREADS"] = threads.ToString(CultureInfo.InvariantCulture);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {runc}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        string stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        string all = stdout.Result + "\n" + stderr;
        var match = TokPerSecond().Match(all);
        if (process.ExitCode != 0 || !match.Success)
            throw new InvalidOperationException($"{runc} exited with {process.ExitCode} and no 'achieved tok/s': {Tail(all)}");
        return double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    private static string Tail(string s) => s.Length > 400 ? s[^400..] : s;

    [GeneratedRegex(@"achieved tok/s:\s*([0-9.eE+-]+)")]
    private static partial Regex TokPerSecond();
}
