using Caprese.Interop;
using Caprese.Models.Formats.Gguf;
using Caprese.Models.Formats.HuggingFace;
using Caprese.Models.Formats.Safetensors;
using Caprese.Models.Loading;
using Caprese.Models.Tokenization;
using Caprese.Models.Transformer;
using Caprese.Models.Weights;

namespace Caprese.Models;

/// <summary>
/// Loads a model onto a backend, detecting the format: a directory (or a .json / .safetensors file
/// in it) is a Hugging Face checkpoint (config.json + safetensors), a file starting with "GGUF" a
/// GGUF model with its embedded tokenizer, any other file a llama2.c checkpoint with its tokenizer beside it.
/// </summary>
public static class ModelLoader
{
    /// <summary>llama2.c tokenizer file names looked for next to the model, in this order.</summary>
    public static readonly IReadOnlyList<string> TokenizerFileNames = ["tok512.bin", "tokenizer.bin"];

    /// <exception cref="ModelFormatException">The model or tokenizer is malformed, or disagrees with its config; names file and tensor.</exception>
    /// <exception cref="FileNotFoundException">The model or its tokenizer is missing.</exception>
    /// <exception cref="CapreseBackendUnavailableException">The backend cannot be used (no fallback).</exception>
    public static Task<LoadedModel> LoadAsync(string path, ModelLoadOptions? options = null,
        CancellationToken cancellationToken = default, IProgress<float>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        // Mapping and uploading are synchronous native work: keep them off the caller's thread.
        return Task.Run(() => Load(path, options, cancellationToken, progress), cancellationToken);
    }

    public static LoadedModel Load(string path, ModelLoadOptions? options = null,
        CancellationToken cancellationToken = default, IProgress<float>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        options ??= new ModelLoadOptions();
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full))
            return LoadHuggingFace(full, options, cancellationToken, progress);
        // config.json, the shard index or a shard stand for the Hugging Face directory holding them.
        if (File.Exists(full) && (full.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) || full.EndsWith(".json", StringComparison.OrdinalIgnoreCase)))
            return LoadHuggingFace(Path.GetDirectoryName(full)!, options, cancellationToken, progress);
        if (!File.Exists(full))
            throw new FileNotFoundException($"model file not found: {full}", full);
        return IsGguf(full)
            ? LoadGguf(full, options, cancellationToken, progress)
            : LoadLlama2c(full, options, cancellationToken, progress);
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

    private static LoadedModel LoadLlama2c(string path, ModelLoadOptions options, CancellationToken ct, IProgress<float>? progress)
    {
        var tokenizerPath = FindTokenizer(path);
        using var checkpoint = Llama2cCheckpoint.Open(path);
        var config = checkpoint.Header.ToModelConfig();
        if (options.ContextLength > 0)
            config = config with { MaxSeqLen = options.ContextLength };
        var tokenizer = SentencePieceBpeTokenizer.Load(tokenizerPath, config.Vocab);
        return Assemble(path, tokenizerPath, config, new Llama2cWeightSource(checkpoint), tokenizer, options, ct, progress);
    }

    private static LoadedModel LoadGguf(string path, ModelLoadOptions options, CancellationToken ct, IProgress<float>? progress)
    {
        using var gguf = GgufFile.Open(path);
        var config = GgufModelReader.ReadConfig(gguf);
        config = config with { MaxSeqLen = options.ContextFor(config.MaxSeqLen) };
        var tokenizer = GgufModelReader.Tokenizer(gguf);
        return Assemble(path, tokenizer is null ? null : path, config, GgufModelReader.Weights(gguf), tokenizer, options, ct, progress);
    }

    private static LoadedModel LoadHuggingFace(string directory, ModelLoadOptions options, CancellationToken ct, IProgress<float>? progress)
    {
        var hf = HfConfig.Load(directory);
        var config = HfConfigMapping.ToModelConfig(hf);
        config = config with { MaxSeqLen = options.ContextFor(config.MaxSeqLen) };
        var tokenizer = HfTokenizerLoader.Load(directory, hf.BosTokenId, hf.EosTokenIds);
        using var checkpoint = SafetensorsCheckpoint.Open(directory);
        var source = new MappedWeightSource(checkpoint.SourcePath, id => HfWeightNames.Of(id, config),
            name => checkpoint.TryGetTensor(name, out var t) ? t : null);
        string? tokenizerPath = tokenizer is null ? null
            : File.Exists(Path.Combine(directory, HfTokenizerLoader.TokenizerJson)) ? Path.Combine(directory, HfTokenizerLoader.TokenizerJson)
            : Path.Combine(directory, HfTokenizerLoader.SentencePieceModel);
        return Assemble(directory, tokenizerPath, config, source, tokenizer, options, ct, progress);
    }

    /// <summary>Creates the context, uploads the weights tensor by tensor and builds the model.</summary>
    internal static LoadedModel Assemble(string modelPath, string? tokenizerPath, ModelConfig config, IWeightSource source,
        ITokenizer? tokenizer, ModelLoadOptions options, CancellationToken ct, IProgress<float>? progress)
    {
        if (tokenizer is not null && tokenizer.VocabSize > config.Vocab)
            throw new ModelFormatException(tokenizerPath ?? modelPath, "tokenizer",
                $"{tokenizer.VocabSize} tokens, but the model's vocabulary has {config.Vocab}");
        ct.ThrowIfCancellationRequested();
        var context = CapreseContext.Create(options.Backend, options.Device, options.NumThreads);
        ModelWeights? weights = null;
        try
        {
            weights = ModelWeights.Upload(context, source, config, options.WeightType, progress, ct);
            var model = new TransformerModel(context, weights, options.MaxBatchRows, ownsWeights: true);
            return new LoadedModel(modelPath, tokenizerPath, context, model, tokenizer);
        }
        catch
        {
            weights?.Dispose();
            context.Dispose();
            throw;
        }
    }

    private static bool IsGguf(string path)
    {
        Span<byte> magic = stackalloc byte[4];
        using var stream = File.OpenRead(path);
        return stream.ReadAtLeast(magic, 4, throwOnEndOfStream: false) == 4 && magic.SequenceEqual("GGUF"u8);
    }
}
