using Caprese.Models.Tests.Support;

namespace Caprese.Models.Tests.Formats;

/// <summary>Paths of the shared reference model files used by the format tests.</summary>
internal static class FormatTestFiles
{
    public static string StoriesGguf => Path.Combine(SharedFiles.ModelDirectory, "stories260K.gguf");
    public static string StoriesBin => Path.Combine(SharedFiles.ModelDirectory, "stories260K.bin");

    private static readonly Lazy<byte[]> GgufBytes = new(() => File.ReadAllBytes(StoriesGguf));

    /// <summary>A fresh copy of stories260K.gguf's bytes (safe to mutate).</summary>
    public static byte[] StoriesGgufCopy() => (byte[])GgufBytes.Value.Clone();
}
