namespace Caprese.Benchmarks.Decoding;

/// <summary>Finds the embedded model: next to the benchmark binaries (published copy), else in
/// the repository's models/ folder above them (BenchmarkDotNet's generated child projects).</summary>
internal static class ModelFiles
{
    public static string Stories260K()
    {
        var relative = Path.Combine("models", "stories260K", "stories260K.bin");
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, relative);
            if (File.Exists(candidate))
                return candidate;
        }
        throw new FileNotFoundException($"{relative} not found above {AppContext.BaseDirectory}");
    }
}
