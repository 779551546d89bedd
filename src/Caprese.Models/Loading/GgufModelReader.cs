using Caprese.Interop;
using Caprese.Models.Formats.Gguf;
using Caprese.Models.Tokenization;
using Caprese.Models.Transformer;
using Caprese.Models.Weights;
using Microsoft.ML.Tokenizers;

namespace Caprese.Models.Loading;

/// <summary>
/// Model config, weights and tokenizer of a GGUF file (architectures llama and qwen2).
/// llama: llama.cpp's converter permutes the Q/K rows of Hugging Face checkpoints into Meta's
/// pair order, and "Meta AI original" files are in it already, so RoPE is interleaved.
/// qwen2: llama.cpp keeps the rows as they are and rotates halves (NEOX), so RoPE is half-split.
/// </summary>
public static class GgufModelReader
{
    /// <exception cref="ModelFormatException">A required key is missing or the architecture is unsupported.</exception>
    public static ModelConfig ReadConfig(GgufFile gguf, int? contextLength = null)
    {
        ArgumentNullException.ThrowIfNull(gguf);
        string arch = gguf.Architecture ?? throw new ModelFormatException(gguf.FilePath, "metadata key 'general.architecture'", "missing");
        var family = arch switch
        {
            "llama" => ModelFamily.Llama,
            "qwen2" => ModelFamily.Qwen2,
            _ => throw new ModelFormatException(gguf.FilePath, "metadata key 'general.architecture'", $"'{arch}' is not supported (llama, qwen2)"),
        };
        int Int(string key, int? fallback = null) =>
            gguf.TryGetValue($"{arch}.{key}", out var v) ? checked((int)v.GetInteger())
            : fallback ?? throw new ModelFormatException(gguf.FilePath, $"metadata key '{arch}.{key}'", "missing");
        double Num(string key, double fallback) => gguf.TryGetValue($"{arch}.{key}", out var v) ? v.GetNumber() : fallback;

        int dim = Int("embedding_length");
        int heads = Int("attention.head_count");
        int headDim = Int("attention.key_length", Int("rope.dimension_count", dim / heads));
        int vocab = gguf.TryGetValue("tokenizer.ggml.tokens", out var tokens) ? tokens.ArrayLength
            : Int("vocab_size", gguf.TryGetTensor("token_embd.weight", out var e) ? (int)e.Shape[0] : null);
        float theta = (float)Num("rope.freq_base", 10000);

        float[]? factors = null;
        if (gguf.TryGetTensor("rope_freqs.weight", out var freqs))
            factors = freqs.DequantizeToF32();

        return new ModelConfig
        {
            Family = family,
            Dim = dim,
            HiddenDim = Int("feed_forward_length"),
            Layers = Int("block_count"),
            Heads = heads,
            KvHeads = Int("attention.head_count_kv", heads),
            HeadDim = headDim,
            Vocab = vocab,
            MaxSeqLen = contextLength ?? Int("context_length", 2048),
            NormEps = (float)Num("attention.layer_norm_rms_epsilon", 1e-5),
            RopeTheta = theta,
            RopeStyle = family == ModelFamily.Llama ? RopeStyle.Interleaved : RopeStyle.HalfSplit,
            RopeFrequencyFactors = factors,
            TiedEmbeddings = !gguf.TryGetTensor("output.weight", out _),
            QkvBias = family == ModelFamily.Qwen2,
        };
    }

    public static IWeightSource Weights(GgufFile gguf)
    {
        ArgumentNullException.ThrowIfNull(gguf);
        return new MappedWeightSource(gguf.FilePath, GgufWeightNames.Of, name => gguf.TryGetTensor(name, out var t) ? t : null);
    }

    /// <summary>The embedded tokenizer: sentencepiece ("llama") or byte-level BPE ("gpt2"); null when there is none.</summary>
    public static ITokenizer? Tokenizer(GgufFile gguf)
    {
        ArgumentNullException.ThrowIfNull(gguf);
        if (!gguf.TryGetValue("tokenizer.ggml.model", out var modelValue))
            return null;
        string model = modelValue.GetString();
        var tokens = gguf.GetValue("tokenizer.ggml.tokens").GetArray<string>();
        int? Id(string key) => gguf.TryGetValue(key, out var v) ? checked((int)v.GetInteger()) : null;
        int? bos = Id("tokenizer.ggml.bos_token_id");
        int? eos = Id("tokenizer.ggml.eos_token_id");
        int[] types = gguf.TryGetValue("tokenizer.ggml.token_type", out var tt) ? tt.GetArray<int>() : [];
        if (types.Length is not 0 && types.Length != tokens.Length)
            throw new ModelFormatException(gguf.FilePath, "metadata key 'tokenizer.ggml.token_type'", $"{types.Length} entries for {tokens.Length} tokens");
        // Token types: 2 unknown, 3 control, 5 unused decode to nothing.
        bool IsControl(int id) => types.Length > 0 ? types[id] is 2 or 3 or 5 : false;

        switch (model)
        {
            case "llama":
            {
                var scores = gguf.TryGetValue("tokenizer.ggml.scores", out var sc) ? sc.GetArray<float>() : new float[tokens.Length];
                if (scores.Length != tokens.Length)
                    throw new ModelFormatException(gguf.FilePath, "metadata key 'tokenizer.ggml.scores'", $"{scores.Length} entries for {tokens.Length} tokens");
                var pieces = tokens.Select(t => t.Replace('\u2581', ' ')).ToArray();
                var control = Enumerable.Range(0, tokens.Length).Select(IsControl).ToArray();
                int unk = Id("tokenizer.ggml.unknown_token_id") ?? SentencePieceBpeTokenizer.DefaultUnknownId;
                try
                {
                    return SentencePieceBpeTokenizer.FromVocabulary(pieces, scores, control, unk,
                        bos ?? SentencePieceBpeTokenizer.DefaultBosId, eos ?? SentencePieceBpeTokenizer.DefaultEosId);
                }
                catch (ArgumentException ex)
                {
                    throw new ModelFormatException(gguf.FilePath, "tokenizer", ex.Message);
                }
            }
            case "gpt2":
            {
                var merges = gguf.TryGetValue("tokenizer.ggml.merges", out var m) ? m.GetArray<string>() : [];
                var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
                var special = new Dictionary<string, int>(StringComparer.Ordinal);
                for (int i = 0; i < tokens.Length; i++)
                {
                    vocab.TryAdd(tokens[i], i);
                    if (types.Length > 0 && types[i] is 3 or 4)
                        special.TryAdd(tokens[i], i);
                }
                string pre = gguf.TryGetValue("tokenizer.ggml.pre", out var p) ? p.GetString() : "llama-bpe";
                var regex = new System.Text.RegularExpressions.Regex(ByteLevelPatterns.For(pre), System.Text.RegularExpressions.RegexOptions.Compiled);
                var inner = BpeTokenizer.Create(new BpeOptions(vocab)
                {
                    Merges = merges,
                    ByteLevel = true,
                    PreTokenizer = new RegexPreTokenizer(regex, special.Count > 0 ? special : null),
                    SpecialTokens = special.Count > 0 ? special : null,
                });
                bool addBos = !gguf.TryGetValue("tokenizer.ggml.add_bos_token", out var ab) || ab.GetBool();
                // Llama 3 instruct models end turns with <|eot_id|>; generation must stop there too.
                var eosIds = new HashSet<int>();
                if (eos is { } id) eosIds.Add(id);
                if (Id("tokenizer.ggml.eot_token_id") is { } eot) eosIds.Add(eot);
                return new MlTokenizerAdapter(inner, tokens.Length, addBos ? bos : null, eosIds);
            }
            default:
                throw new ModelFormatException(gguf.FilePath, "metadata key 'tokenizer.ggml.model'", $"'{model}' is not supported (llama, gpt2)");
        }
    }
}
