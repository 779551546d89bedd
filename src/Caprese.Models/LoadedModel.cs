using Caprese.Interop;
using Caprese.Models.Generation;
using Caprese.Models.Llama;
using Caprese.Models.Tokenization;

namespace Caprese.Models;

/// <summary>A model ready to run: its context, weights, KV cache and tokenizer. Disposing frees them all.</summary>
public sealed class LoadedModel : IDisposable
{
    internal LoadedModel(string modelPath, string tokenizerPath, CapreseContext context, LlamaModel model, SentencePieceBpeTokenizer tokenizer)
    {
        ModelPath = modelPath;
        TokenizerPath = tokenizerPath;
        Context = context;
        Model = model;
        Tokenizer = tokenizer;
        Generator = new TextGenerator(model, tokenizer);
    }

    public string ModelPath { get; }
    public string TokenizerPath { get; }
    public CapreseContext Context { get; }
    public LlamaModel Model { get; }
    public SentencePieceBpeTokenizer Tokenizer { get; }
    public TextGenerator Generator { get; }
    public LlamaConfig Config => Model.Config;
    public BackendKind Backend => Context.Backend;

    public void Dispose()
    {
        Model.Dispose();
        Context.Dispose();
    }
}
