namespace Caprese.Oracle.Tests.Support;

/// <summary>Locations of the repository and of the read-only shared models beside it.</summary>
internal static class Paths
{
    public static string RepositoryRoot { get; } = FindRoot();

    /// <summary>../shared relative to the repository root (the folder holding Caprese.sln).</summary>
    public static string Shared => Path.GetFullPath(Path.Combine(RepositoryRoot, "..", "shared"));

    public static string Stories260K => Path.Combine(Shared, "models", "stories260K", "stories260K.bin");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Caprese.sln")))
                return dir.FullName;
        throw new DirectoryNotFoundException($"no Caprese.sln above {AppContext.BaseDirectory}");
    }
}
