using System.Diagnostics;

namespace Caprese.Cli.Tests;

/// <summary>Runs the built `caprese` command (src/Caprese.Cli/bin/&lt;configuration&gt;/net10.0/caprese.dll) in a child process.</summary>
internal static class CapreseProcess
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    private static readonly Lazy<string> Cli = new(() =>
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Caprese.sln")))
            dir = dir.Parent;
        Assert.NotNull(dir);
        // The test binary's configuration folder (.../bin/Release/net10.0/) names the CLI build to run.
        string configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
        string cli = Path.Combine(dir.FullName, "src", "Caprese.Cli", "bin", configuration, "net10.0", "caprese.dll");
        Assert.True(File.Exists(cli), $"the CLI is not built at {cli}");
        return cli;
    });

    public static Result Run(string workingDirectory, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Cli.Value);
        foreach (var a in args)
            start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"caprese {string.Join(' ', args)} did not finish in 3 minutes");
        }
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }
}
