using Caprese.Interop;
using Caprese.Models.Transformer;
using Caprese.Models.Weights;

namespace Caprese.Models.Formats.Gguf;

/// <summary>
/// Writes a Llama-architecture model as a GGUF v3 file that llama.cpp and this project's
/// <see cref="Loading.GgufModelReader"/> both load: the llama.* hyper-parameters, a SentencePiece
/// vocabulary and llama.cpp's tensor names (token_embd.weight, blk.N.attn_q.weight, ...,
/// output_norm.weight, output.weight). Matrices and the embedding table are stored as
/// <c>matrixType</c>, norms as F32. Q and K rows are written in the order the source holds them,
/// which must be the pair-interleaved RoPE order (Meta's, llama.cpp's "llama" convention):
/// the config's <see cref="ModelConfig.RopeStyle"/> must be <see cref="RopeStyle.Interleaved"/>.
/// </summary>
public static class LlamaGgufWriter
{
    /// <exception cref="ArgumentException">The config is not a plain Llama, or the vocabulary does not fit it.</exception>
    /// <exception cref="Loading.ModelFormatException">The source lacks a tensor or holds one of another shape.</exception>
    public static void Write(string path, ModelConfig config, IWeightSource source, GgufVocabulary vocabulary,
        GgmlType matrixType = GgmlType.F32, string name = "caprese-export")
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(vocabulary);
        ArgumentNullException.ThrowIfNull(name);
        config.Validate();
        if (config.Family != ModelFamily.Llama || config.QkvBias || config.PostNorms || config.NormWeightOffset != 0
            || config.RopeScaling is not null || config.RopeFrequencyFactors is not null || config.Activation != Activation.Silu
            || config.EmbeddingScale != 1f || config.AttentionScale is not null || config.AttentionSoftcap != 0 || config.FinalLogitSoftcap != 0
            || config.SlidingWindow != 0)
            throw new ArgumentException("only plain Llama models (SiLU; no biases, post-norms, norm offset, RoPE scaling, embedding or attention scale, soft-caps, sliding window) are written as GGUF llama", nameof(config));
        if (config.RopeStyle != RopeStyle.Interleaved)
            throw new ArgumentException("GGUF llama files hold Q/K rows in interleaved RoPE order; permute half-split weights first", nameof(config));
        vocabulary.Validate();
        if (vocabulary.Count != config.Vocab)
            throw new ArgumentException($"the vocabulary has {vocabulary.Count} tokens, the model {config.Vocab}", nameof(vocabulary));
        uint fileType = matrixType switch
        {
            GgmlType.F32 => 0,
            GgmlType.F16 => 1,
            GgmlType.Q8_0 => 7,
            GgmlType.BF16 => 32,
            _ => throw new ArgumentOutOfRangeException(nameof(matrixType), matrixType, "F32, F16, BF16 or Q8_0"),
        };

        var metadata = new List<KeyValuePair<string, GgufMetadataValue>>();
        void Add(string key, GgufMetadataValue value) => metadata.Add(new(key, value));
        Add("general.architecture", GgufMetadataValue.String("llama"));
        Add("general.name", GgufMetadataValue.String(name));
        Add("general.file_type", GgufMetadataValue.UInt32(fileType));
        Add("llama.context_length", GgufMetadataValue.UInt32((uint)config.MaxSeqLen));
        Add("llama.embedding_length", GgufMetadataValue.UInt32((uint)config.Dim));
        Add("llama.block_count", GgufMetadataValue.UInt32((uint)config.Layers));
        Add("llama.feed_forward_length", GgufMetadataValue.UInt32((uint)config.HiddenDim));
        Add("llama.attention.head_count", GgufMetadataValue.UInt32((uint)config.Heads));
        Add("llama.attention.head_count_kv", GgufMetadataValue.UInt32((uint)config.KvHeads));
        Add("llama.attention.key_length", GgufMetadataValue.UInt32((uint)config.HeadDim));
        Add("llama.attention.value_length", GgufMetadataValue.UInt32((uint)config.HeadDim));
        Add("llama.rope.dimension_count", GgufMetadataValue.UInt32((uint)config.HeadDim));
        Add("llama.rope.freq_base", GgufMetadataValue.Float32(config.RopeTheta));
        Add("llama.attention.layer_norm_rms_epsilon", GgufMetadataValue.Float32(config.NormEps));
        Add("llama.vocab_size", GgufMetadataValue.UInt32((uint)config.Vocab));
        Add("tokenizer.ggml.model", GgufMetadataValue.String("llama"));
        Add("tokenizer.ggml.tokens", GgufMetadataValue.Strings(vocabulary.Tokens));
        Add("tokenizer.ggml.scores", GgufMetadataValue.Float32s(vocabulary.Scores));
        Add("tokenizer.ggml.token_type", GgufMetadataValue.Int32s(vocabulary.TokenTypes));
        Add("tokenizer.ggml.bos_token_id", GgufMetadataValue.UInt32((uint)vocabulary.BosId));
        Add("tokenizer.ggml.eos_token_id", GgufMetadataValue.UInt32((uint)vocabulary.EosId));
        Add("tokenizer.ggml.unknown_token_id", GgufMetadataValue.UInt32((uint)vocabulary.UnknownId));
        Add("tokenizer.ggml.add_bos_token", GgufMetadataValue.Bool(true));
        Add("tokenizer.ggml.add_eos_token", GgufMetadataValue.Bool(false));

        var tensors = new List<GgufTensorData>();
        foreach (var spec in WeightLayout.Required(config))
        {
            var tensor = source.Find(spec.Id)
                ?? throw new Loading.ModelFormatException(source.SourcePath, $"tensor '{source.NameOf(spec.Id)}'", "missing (the model config requires it)");
            if (!tensor.Shape.SequenceEqual(spec.Shape))
                throw new Loading.ModelFormatException(tensor.FilePath, $"tensor '{tensor.Name}'",
                    $"shape [{string.Join(", ", tensor.Shape)}] does not match [{string.Join(", ", spec.Shape)}] implied by the model config");
            var type = spec.Id.IsMatrix ? matrixType : GgmlType.F32;
            tensors.Add(new GgufTensorData(GgufWeightNames.Of(spec.Id), spec.Shape, type, tensor.Read));
        }
        GgufWriter.Write(path, metadata, tensors);
    }
}
