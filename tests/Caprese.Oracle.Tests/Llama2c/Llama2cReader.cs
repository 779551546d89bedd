using System.Runtime.InteropServices;
using Caprese.Oracle.Tests.Reference;

namespace Caprese.Oracle.Tests.Llama2c;

/// <summary>
/// The oracle's own llama2.c checkpoint reader (not the runtime's, so a loader bug is not shared):
/// 7 int32 (dim, hidden, layers, heads, kv heads, vocab — negative = separate classifier —, seq
/// len), then f32 arrays in a fixed order. Tensors come out under Hugging Face names; the RoPE
/// layout stays Meta's interleaved pairs, since llama2.c keeps q/k rows unpermuted.
/// </summary>
internal static class Llama2cReader
{
    public static (OracleConfig Config, Dictionary<string, float[]> Weights, int MaxSeqLen) Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var header = MemoryMarshal.Cast<byte, int>(bytes.AsSpan(0, 28));
        int dim = header[0], hidden = header[1], layers = header[2], heads = header[3], kvHeads = header[4];
        int vocab = Math.Abs(header[5]), seqLen = header[6];
        bool shared = header[5] > 0;
        int headDim = dim / heads, kvDim = kvHeads * headDim;
        var floats = MemoryMarshal.Cast<byte, float>(bytes.AsSpan(28)).ToArray();
        int offset = 0;
        float[] Take(long count)
        {
            var a = floats.AsSpan(offset, checked((int)count)).ToArray();
            offset += (int)count;
            return a;
        }

        var w = new Dictionary<string, float[]>(StringComparer.Ordinal);
        w["model.embed_tokens.weight"] = Take((long)vocab * dim);
        // Per-layer tensors are stacked by layer; split them.
        void Stacked(string suffix, long perLayer)
        {
            for (int l = 0; l < layers; l++)
                w[$"model.layers.{l}.{suffix}"] = Take(perLayer);
        }
        Stacked("input_layernorm.weight", dim);
        Stacked("self_attn.q_proj.weight", (long)dim * dim);
        Stacked("self_attn.k_proj.weight", (long)kvDim * dim);
        Stacked("self_attn.v_proj.weight", (long)kvDim * dim);
        Stacked("self_attn.o_proj.weight", (long)dim * dim);
        Stacked("post_attention_layernorm.weight", dim);
        Stacked("mlp.gate_proj.weight", (long)hidden * dim); // w1
        Stacked("mlp.down_proj.weight", (long)dim * hidden); // w2
        Stacked("mlp.up_proj.weight", (long)hidden * dim);   // w3
        w["model.norm.weight"] = Take(dim);
        offset += seqLen * headDim / 2 * 2; // legacy freq_cis_real/imag tables, unused
        if (!shared)
            w["lm_head.weight"] = Take((long)vocab * dim);
        if (offset != floats.Length)
            throw new InvalidDataException($"{path}: {floats.Length - offset} floats left after the last tensor");

        var config = new OracleConfig
        {
            Hidden = dim,
            Intermediate = hidden,
            Layers = layers,
            Heads = heads,
            KvHeads = kvHeads,
            HeadDim = headDim,
            Vocab = vocab,
            NormEps = 1e-5,
            RopeTheta = 10000,
            Rope = RopeLayout.InterleavedPairs,
            TiedEmbeddings = shared,
        };
        return (config, w, seqLen);
    }
}
