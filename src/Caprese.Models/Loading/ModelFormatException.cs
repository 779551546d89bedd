namespace Caprese.Models.Loading;

/// <summary>
/// A model or tokenizer file is not in the format it claims to be (bad header, wrong size,
/// a tensor or record that does not fit). The only exception the file readers throw for bad
/// content; I/O problems (missing file, no permission) stay ordinary <see cref="IOException"/>s.
/// </summary>
public sealed class ModelFormatException : Exception
{
    public ModelFormatException(string filePath, string item, string problem)
        : base($"{filePath}: {item}: {problem}")
    {
        FilePath = filePath;
        Item = item;
    }

    /// <summary>The file that is malformed.</summary>
    public string FilePath { get; }

    /// <summary>What does not fit: a header field, a tensor or a tokenizer record.</summary>
    public string Item { get; }
}
