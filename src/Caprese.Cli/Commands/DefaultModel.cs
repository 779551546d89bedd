namespace Caprese.Cli.Commands;

/// <summary>
/// The models copied next to the executable at build time: stories260K (the default) and arith-3m (the arithmetic
/// model the math evaluation runs on). Either can be named by its folder name wherever a model path is taken.
/// </summary>
internal static class DefaultModel
{
    public static string Path => System.IO.Path.Combine(EmbeddedRoot, "stories260K", "stories260K.bin");

    /// <summary>The step-by-step arithmetic model trained by tools/MathModel (a Hugging Face style folder).</summary>
    public static string Arithmetic => System.IO.Path.Combine(EmbeddedRoot, "arith-3m");

    private static string EmbeddedRoot => System.IO.Path.Combine(AppContext.BaseDirectory, "models");

    /// <summary>
    /// <paramref name="path"/> itself when it exists; otherwise, when it is the name of an embedded model
    /// ("stories260K", "arith-3m"), that model; otherwise <paramref name="path"/> unchanged (the loader then says it is missing).
    /// </summary>
    public static string Resolve(string path)
    {
        if (File.Exists(path) || Directory.Exists(path))
            return path;
        if (string.Equals(path, "stories260K", StringComparison.OrdinalIgnoreCase))
            return Path;
        if (string.Equals(path, "arith-3m", StringComparison.OrdinalIgnoreCase))
            return Arithmetic;
        return path;
    }
}
