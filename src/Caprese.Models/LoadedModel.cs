using Caprese.Interop;
using Caprese.Models.Generation;
using Caprese.Models.Tokenization;
using Caprese.Models.Transformer;

namespace Caprese.Models;

/// <summary>A model ready to run: its context, weights, KV cache and (when it has one) tokenizer. Disposing frees them all.</summary>
public sealed class LoadedModel : IDisposable
{
    private readonly ITokenizer? _tokenizer;
    private TextGenerator? _generator;

    internal LoadedModel(string modelPath, string? tokenizerPath, CapreseContext context, TransformerModel model, ITokenizer? tokenizer)
    {
        ModelPath = modelPath;
        TokenizerPath = tokenizerPath;
        Context = context;
        Model = model;
        _tokenizer = tokenizer;
    }

    public string ModelPath { get; }

    /// <summary>Where the tokenizer came from (the model file itself for GGUF); null without a tokenizer.</summary>
    public string? TokenizerPath { get; }

    public CapreseContext Context { get; }
    public TransformerModel Model { get; }
    public bool HasTokenizer => _tokenizer is not null;

    /// <exception cref="InvalidOperationException">The model has no tokenizer (synthetic models, checkpoints without one).</exception>
    public ITokenizer Tokenizer => _tokenizer ?? throw new InvalidOperationException($"{ModelPath} has no tokenizer; run the model on token ids");

    /// <exception cref="InvalidOperationException">The model has no tokenizer.</exception>
    public TextGenerator Generator => _generator ??= new TextGenerator(Model, Tokenizer);

    public ModelConfig Config => Model.Config;
    public BackendKind Backend => Context.Backend;

    public void Dispose()
    {
        Model.Dispose();
        Context.Dispose();
    }
}
