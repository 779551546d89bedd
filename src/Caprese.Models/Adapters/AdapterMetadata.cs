namespace Caprese.Models.Adapters;

/// <summary>
/// What an adapter file records besides the factors: the base model they were trained on and free-form training
/// settings (stage, learning rate, corpus, ...). Sparsity, rank, dimension and layers come from the
/// <see cref="AdapterSet"/> itself.
/// </summary>
/// <param name="BaseModel">The model the adapters were trained on.</param>
/// <param name="Training">Free-form settings; keys and values are stored as given (keys must be non-empty).</param>
public sealed record AdapterMetadata(ModelFingerprint BaseModel, IReadOnlyDictionary<string, string>? Training = null)
{
    /// <summary>The training settings, empty when none were given.</summary>
    public IReadOnlyDictionary<string, string> TrainingSettings => Training ?? new Dictionary<string, string>();
}

/// <summary>An adapter file's content.</summary>
/// <param name="Adapters">The adapters, with the sparsity they repair.</param>
/// <param name="Metadata">Base model and training settings.</param>
/// <param name="FormatVersion">The file's format version.</param>
public sealed record AdapterFileContent(AdapterSet Adapters, AdapterMetadata Metadata, int FormatVersion);

/// <summary>An adapter file that is well formed but does not belong to the model it is loaded onto.</summary>
public sealed class AdapterMismatchException : Exception
{
    public AdapterMismatchException(string filePath, string problem)
        : base($"{filePath}: {problem}")
    {
        FilePath = filePath;
    }

    /// <summary>The adapter file.</summary>
    public string FilePath { get; }
}
