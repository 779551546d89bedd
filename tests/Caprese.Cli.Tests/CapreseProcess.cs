using System.Diagnostics;

namespace Caprese.Cli.Tests;

/// <summary>Runs the built `caprese` command (src/Caprese.Cli/bin/&lt;configuration&gt;/net10.0/caprese.dll) in a child process.</summary>
internal static partial class CapreseProcess
{
    private const int SigInt = 2;

    // libc kill(2): .NET's Process has no way to send SIGINT, and a `kill` binary may not be installed.
    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SendSignal(int pid, int signal);

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

    /// <summary>The folder of the built CLI, where its native libraries (and plugins) sit.</summary>
    public static string CliDirectory => Path.GetDirectoryName(Cli.Value)!;

    public static Result Run(string workingDirectory, params string[] args) => Run(workingDirectory, null, args);

    /// <summary>
    /// Runs the command; when <paramref name="interruptWhen"/> matches a line of its stderr, sends it SIGINT (Ctrl+C),
    /// as a user stopping a long run would.
    /// </summary>
    public static Result Run(string workingDirectory, Func<string, bool>? interruptWhen, params string[] args)
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
        var stderr = Task.Run(() =>
        {
            var text = new System.Text.StringBuilder();
            bool sent = false;
            while (process.StandardError.ReadLine() is { } line)
            {
                text.AppendLine(line);
                if (!sent && interruptWhen?.Invoke(line) == true)
                {
                    sent = true;
                    Assert.Equal(0, SendSignal(process.Id, SigInt));
                }
            }
            return text.ToString();
        }, TestContext.Current.CancellationToken);
        if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"caprese {string.Join(' ', args)} did not finish in 3 minutes");
        }
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }
}
