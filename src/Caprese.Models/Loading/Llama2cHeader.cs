namespace Caprese.Models.Loading;

/// <summary>The seven int32 fields that open a llama2.c checkpoint, already validated.</summary>
public sealed record Llama2cHeader(
    int Dim, int HiddenDim, int Layers, int Heads, int KvHeads, int Vocab, int MaxSeqLen, bool SharedClassifier)
{
    public const int SizeInBytes = 7 * sizeof(int);

    // Caps far above any real model; they keep every product below in a long and every
    // single tensor addressable by a span, whatever a corrupt header says.
    internal const int MaxDim = 1 << 16;
    internal const int MaxHiddenDim = 1 << 18;
    internal const int MaxLayers = 1 << 10;
    internal const int MaxVocab = 1 << 22;
    internal const int MaxSeqLenCap = 1 << 20;

    public int HeadDim => Dim / Heads;
    public int KvDim => KvHeads * HeadDim;

    /// <summary>llama2.c models: Meta pair order (interleaved RoPE), SiLU, eps 1e-5, theta 10000.</summary>
    public Transformer.ModelConfig ToModelConfig() => new()
    {
        Dim = Dim, HiddenDim = HiddenDim, Layers = Layers, Heads = Heads, KvHeads = KvHeads,
        HeadDim = HeadDim, Vocab = Vocab, MaxSeqLen = MaxSeqLen, TiedEmbeddings = SharedClassifier,
    };

    /// <summary>Checks the raw fields; throws <see cref="ModelFormatException"/> naming the first bad one.</summary>
    public static Llama2cHeader Parse(ReadOnlySpan<int> fields, string filePath)
    {
        if (fields.Length != 7)
            throw new ArgumentException("a llama2.c header has 7 fields", nameof(fields));

        int dim = Require(fields[0], "dim", MaxDim, filePath);
        int hidden = Require(fields[1], "hidden_dim", MaxHiddenDim, filePath);
        int layers = Require(fields[2], "n_layers", MaxLayers, filePath);
        int heads = Require(fields[3], "n_heads", dim, filePath);
        int kvHeads = Require(fields[4], "n_kv_heads", heads, filePath);
        // A negative vocab size is llama2.c's flag for a separate classifier matrix at the end.
        bool shared = fields[5] > 0;
        int vocab = Require(fields[5] == int.MinValue ? 0 : Math.Abs(fields[5]), "vocab_size", MaxVocab, filePath);
        int seqLen = Require(fields[6], "seq_len", MaxSeqLenCap, filePath);

        if (dim % heads != 0)
            throw new ModelFormatException(filePath, "header", $"n_heads {heads} does not divide dim {dim}");
        if (heads % kvHeads != 0)
            throw new ModelFormatException(filePath, "header", $"n_kv_heads {kvHeads} does not divide n_heads {heads}");
        if ((dim / heads) % 2 != 0)
            throw new ModelFormatException(filePath, "header", $"head size {dim / heads} is odd; RoPE rotates pairs");

        return new Llama2cHeader(dim, hidden, layers, heads, kvHeads, vocab, seqLen, shared);
    }

    private static int Require(int value, string field, int max, string filePath)
    {
        if (value <= 0 || value > max)
            throw new ModelFormatException(filePath, field, $"value {value} is outside 1..{max}");
        return value;
    }
}
