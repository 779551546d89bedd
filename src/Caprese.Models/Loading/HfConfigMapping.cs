using Caprese.Interop;
using Caprese.Models.Formats.HuggingFace;
using Caprese.Models.Transformer;

namespace Caprese.Models.Loading;

/// <summary>Turns a Hugging Face config.json into a <see cref="ModelConfig"/>; unsupported settings are errors, never ignored.</summary>
public static class HfConfigMapping
{
    /// <exception cref="ModelFormatException">The config asks for something this runtime does not implement.</exception>
    public static ModelConfig ToModelConfig(HfConfig hf, int? contextLength = null)
    {
        ArgumentNullException.ThrowIfNull(hf);
        ModelFormatException Unsupported(string field, string problem) => new(hf.FilePath, field, problem);

        var family = hf.ModelType switch
        {
            "llama" => ModelFamily.Llama,
            "qwen2" => ModelFamily.Qwen2,
            "gemma2" => ModelFamily.Gemma2,
            _ => throw Unsupported("model_type", $"'{hf.ModelType}' is not supported (llama, qwen2, gemma2)"),
        };
        var activation = hf.HiddenAct switch
        {
            "silu" => Activation.Silu,
            "gelu_pytorch_tanh" or "gelu_tanh" => Activation.GeluTanh,
            _ => throw Unsupported("hidden_act", $"'{hf.HiddenAct}' is not supported (silu, gelu_pytorch_tanh)"),
        };
        Llama3RopeScaling? scaling = hf.RopeScaling switch
        {
            null => null,
            { RopeType: "default" } => null,
            { RopeType: "llama3" } s => new Llama3RopeScaling(s.Factor, s.LowFreqFactor!.Value, s.HighFreqFactor!.Value, s.OriginalMaxPositionEmbeddings!.Value),
            var s => throw Unsupported("rope_scaling.rope_type", $"'{s.RopeType}' is not supported (default, llama3)"),
        };
        if (family == ModelFamily.Llama && hf.AttentionBias)
            throw Unsupported("attention_bias", "Llama with attention biases (o_proj bias) is not supported");
        if (family == ModelFamily.Qwen2 && hf.SlidingWindow is not null)
            throw Unsupported("use_sliding_window", "Qwen2 sliding-window attention is not supported");

        bool gemma = family == ModelFamily.Gemma2;
        return new ModelConfig
        {
            Family = family,
            Dim = hf.HiddenSize,
            HiddenDim = hf.IntermediateSize,
            Layers = hf.NumHiddenLayers,
            Heads = hf.NumAttentionHeads,
            KvHeads = hf.NumKeyValueHeads,
            HeadDim = hf.HeadDim,
            Vocab = hf.VocabSize,
            MaxSeqLen = contextLength ?? hf.MaxPositionEmbeddings,
            NormEps = (float)hf.RmsNormEps,
            NormWeightOffset = gemma ? 1f : 0f,
            RopeTheta = (float)hf.RopeTheta,
            RopeStyle = RopeStyle.HalfSplit, // HF checkpoints keep Q/K rows in rotate-half order
            RopeScaling = scaling,
            Activation = activation,
            TiedEmbeddings = hf.TieWordEmbeddings,
            QkvBias = family == ModelFamily.Qwen2 && hf.AttentionBias,
            EmbeddingScale = gemma ? MathF.Sqrt(hf.HiddenSize) : 1f,
            PostNorms = gemma,
            // Absent Gemma 2 fields take transformers' Gemma2Config defaults (256, 50, 30).
            AttentionScale = gemma ? (float)(1 / Math.Sqrt(hf.QueryPreAttnScalar ?? 256)) : null,
            AttentionSoftcap = (float)(hf.AttnLogitSoftcapping ?? (gemma ? 50 : 0)),
            FinalLogitSoftcap = (float)(hf.FinalLogitSoftcapping ?? (gemma ? 30 : 0)),
            SlidingWindow = gemma ? hf.SlidingWindow ?? 4096 : 0,
            SlidingWindowLayers = gemma ? SlidingWindowLayers.Even : SlidingWindowLayers.All,
        };
    }
}
