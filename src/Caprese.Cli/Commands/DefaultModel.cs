namespace Caprese.Cli.Commands;

/// <summary>The stories260K model copied next to the executable at build time.</summary>
internal static class DefaultModel
{
    public static string Path => System.IO.Path.Combine(AppContext.BaseDirectory, "models", "stories260K", "stories260K.bin");
}
