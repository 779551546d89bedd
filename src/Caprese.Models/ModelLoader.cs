using Caprese.Interop;
using Caprese.Models.Llama;
using Caprese.Models.Loading;
using Caprese.Models.Tokenization;

namespace Caprese.Models;

/// <summary>Loads a llama2.c checkpoint and the tokenizer beside it onto a backend.</summary>
public static class ModelLoader
{
    /// <summary>Tokenizer file names looked for next to the model, in this order.</summary>
    public static readonly IReadOnlyList<string> TokenizerFileNames = ["tok512.bin", "tokenizer.bin"];

    /// <exception cref="ModelFormatException">The model or tokenizer file is malformed.</exception>
    /// <exception cref="FileNotFoundException">The model or its tokenizer is missing.</exception>
    /// <exception cref="CapreseBackendUnavailableException">The backend cannot be used (no fallback).</exception>
    public static Task<LoadedModel> LoadAsync(string path, ModelLoadOptions? options = null,
        CancellationToken cancellationToken = default, IProgress<float>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        options ??= new ModelLoadOptions();
        // Mapping and uploading are synchronous native work: keep them off the caller's thread.
        return Task.Run(() => Load(path, options, cancellationToken, progress), cancellationToken);
    }

    public static LoadedModel Load(string path, ModelLoadOptions? options = null,
        CancellationToken cancellationToken = default, IProgress<float>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        options ??= new ModelLoadOptions();
        var modelPath = Path.GetFullPath(path);
        if (!File.Exists(modelPath))
            throw new FileNotFoundException($"model file not found: {modelPath}", modelPath);
        var tokenizerPath = FindTokenizer(modelPath);

        using var checkpoint = Llama2cCheckpoint.Open(modelPath);
        var config = LlamaConfig.FromLlama2c(checkpoint.Header);
        var tokenizer = SentencePieceBpeTokenizer.Load(tokenizerPath, config.Vocab);
        cancellationToken.ThrowIfCancellationRequested();

        var context = CapreseContext.Create(options.Backend, options.Device, options.NumThreads);
        LlamaWeights? weights = null;
        try
        {
            weights = LlamaWeights.Upload(context, checkpoint, config, options.WeightType, progress, cancellationToken);
            var model = new LlamaModel(context, weights, options.MaxBatchRows, ownsWeights: true);
            return new LoadedModel(modelPath, tokenizerPath, context, model, tokenizer);
        }
        catch
        {
            weights?.Dispose();
            context.Dispose();
            throw;
        }
    }

    public static string FindTokenizer(string modelPath)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(modelPath)) ?? ".";
        foreach (var name in TokenizerFileNames)
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
                return candidate;
        }
        throw new FileNotFoundException(
            $"no tokenizer next to {modelPath} (looked for {string.Join(", ", TokenizerFileNames)})", Path.Combine(dir, TokenizerFileNames[0]));
    }
}
