using Caprese.Interop;
using Caprese.Models.Loading;

namespace Caprese.Models.Llama;

/// <summary>Hyper-parameters of a Llama-architecture decoder.</summary>
public sealed record LlamaConfig(
    int Dim,
    int HiddenDim,
    int Layers,
    int Heads,
    int KvHeads,
    int Vocab,
    int MaxSeqLen,
    float NormEps = 1e-5f,
    float RopeTheta = 10000f,
    RopeStyle RopeStyle = RopeStyle.Interleaved,
    Activation Activation = Activation.Silu,
    bool TiedEmbeddings = true)
{
    public int HeadDim => Dim / Heads;
    public int KvDim => KvHeads * HeadDim;

    /// <summary>llama2.c checkpoints: interleaved RoPE pairs (Meta layout), SiLU, eps 1e-5, theta 10000.</summary>
    public static LlamaConfig FromLlama2c(Llama2cHeader h) =>
        new(h.Dim, h.HiddenDim, h.Layers, h.Heads, h.KvHeads, h.Vocab, h.MaxSeqLen, TiedEmbeddings: h.SharedClassifier);
}
