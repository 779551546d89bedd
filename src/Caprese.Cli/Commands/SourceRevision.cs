using System.Diagnostics;

namespace Caprese.Cli.Commands;

/// <summary>Which source a result came from, for reports that must say what was measured (bench-verify, eval-math).</summary>
internal static class SourceRevision
{
    /// <summary>The commit of the source tree the CLI was built in (or run from), "-dirty" with uncommitted changes; "unknown" without git.</summary>
    public static string Commit()
    {
        foreach (string dir in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
        {
            string? head = Git(dir, "rev-parse", "--short=12", "HEAD");
            if (string.IsNullOrEmpty(head))
                continue;
            string? changes = Git(dir, "status", "--porcelain", "--untracked-files=no");
            return changes is { Length: > 0 } ? head + "-dirty" : head;
        }
        return "unknown";
    }

    private static string? Git(string dir, params string[] args)
    {
        try
        {
            var start = new ProcessStartInfo("git") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            start.ArgumentList.Add("-C");
            start.ArgumentList.Add(dir);
            foreach (string a in args)
                start.ArgumentList.Add(a);
            using var git = Process.Start(start);
            if (git is null)
                return null;
            string output = git.StandardOutput.ReadToEnd().Trim();
            git.StandardError.ReadToEnd();
            return git.WaitForExit(10_000) && git.ExitCode == 0 ? output : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null; // no git on this machine
        }
    }
}
