namespace Caprese.Models.Formats.Gguf;

/// <summary>
/// A SentencePiece ("llama") vocabulary as GGUF stores it under tokenizer.ggml.*: pieces (with
/// U+2581 for a leading space), scores, token types (1 normal, 2 unknown, 3 control, 6 byte) and
/// the special ids.
/// </summary>
public sealed record GgufVocabulary(IReadOnlyList<string> Tokens, IReadOnlyList<float> Scores, IReadOnlyList<int> TokenTypes,
    int BosId = 1, int EosId = 2, int UnknownId = 0)
{
    public const int NormalType = 1, UnknownType = 2, ControlType = 3, ByteType = 6;

    /// <summary>The three specials plus one token per byte.</summary>
    public const int MinimumPlaceholderSize = 3 + 256;

    public int Count => Tokens.Count;

    /// <summary>
    /// A stand-in vocabulary of <paramref name="size"/> tokens for random-weight models: &lt;unk&gt;, &lt;s&gt;,
    /// &lt;/s&gt;, the 256 byte tokens &lt;0x00&gt;..&lt;0xFF&gt; (so every text is encodable), then distinct
    /// pieces "▁p{id}" with decreasing scores. Loaders that build a SentencePiece tokenizer accept it.
    /// </summary>
    public static GgufVocabulary Placeholder(int size)
    {
        if (size < MinimumPlaceholderSize)
            throw new ArgumentOutOfRangeException(nameof(size), size, $"a placeholder vocabulary needs at least {MinimumPlaceholderSize} tokens");
        var tokens = new string[size];
        var scores = new float[size];
        var types = new int[size];
        (tokens[0], types[0]) = ("<unk>", UnknownType);
        (tokens[1], types[1]) = ("<s>", ControlType);
        (tokens[2], types[2]) = ("</s>", ControlType);
        for (int b = 0; b < 256; b++)
            (tokens[3 + b], types[3 + b]) = ($"<0x{b:X2}>", ByteType);
        for (int i = MinimumPlaceholderSize; i < size; i++)
        {
            tokens[i] = $"\u2581p{i}";
            scores[i] = -(i - MinimumPlaceholderSize);
            types[i] = NormalType;
        }
        return new GgufVocabulary(tokens, scores, types);
    }

    /// <summary>The vocabulary a GGUF file embeds (tokenizer.ggml.model "llama").</summary>
    public static GgufVocabulary FromFile(GgufFile gguf)
    {
        ArgumentNullException.ThrowIfNull(gguf);
        string model = gguf.GetValue("tokenizer.ggml.model").GetString();
        if (model != "llama")
            throw new NotSupportedException($"{gguf.FilePath}: tokenizer model '{model}'; only SentencePiece (\"llama\") vocabularies are copied");
        var tokens = gguf.GetValue("tokenizer.ggml.tokens").GetArray<string>();
        var scores = gguf.TryGetValue("tokenizer.ggml.scores", out var s) ? s.GetArray<float>() : new float[tokens.Length];
        var types = gguf.TryGetValue("tokenizer.ggml.token_type", out var t) ? t.GetArray<int>() : Enumerable.Repeat(NormalType, tokens.Length).ToArray();
        int Id(string key, int fallback) => gguf.TryGetValue(key, out var v) ? checked((int)v.GetInteger()) : fallback;
        return new GgufVocabulary(tokens, scores, types,
            Id("tokenizer.ggml.bos_token_id", 1), Id("tokenizer.ggml.eos_token_id", 2), Id("tokenizer.ggml.unknown_token_id", 0));
    }

    internal void Validate()
    {
        ArgumentNullException.ThrowIfNull(Tokens);
        ArgumentNullException.ThrowIfNull(Scores);
        ArgumentNullException.ThrowIfNull(TokenTypes);
        if (Scores.Count != Tokens.Count || TokenTypes.Count != Tokens.Count)
            throw new ArgumentException($"{Tokens.Count} tokens, {Scores.Count} scores and {TokenTypes.Count} token types must be as many");
        foreach (var (name, id) in new[] { ("BOS", BosId), ("EOS", EosId), ("unknown", UnknownId) })
            if ((uint)id >= (uint)Tokens.Count)
                throw new ArgumentOutOfRangeException(name, id, $"the {name} id is outside the {Tokens.Count}-token vocabulary");
    }
}
