using Caprese.Models.Tests.Formats;
using Caprese.Models.Transformer;
using Caprese.Models.Weights;

namespace Caprese.Models.Tests.Support;

/// <summary>Writes a tiny llama/qwen2 GGUF model (no tokenizer) from Hugging Face-named f32 weights.</summary>
internal static class GgufModelWriter
{
    public const uint F32 = 0, F16 = 1, Q8_0 = 8;

    /// <param name="typeOf">GGML type per GGUF tensor name (default f32).</param>
    /// <param name="skip">GGUF tensor names to leave out.</param>
    /// <param name="editKeys">Adds or overrides metadata (later keys win in the reader? no: written after, so the test uses distinct keys).</param>
    public static byte[] Build(ModelConfig c, IReadOnlyDictionary<string, float[]> weights, Func<string, uint>? typeOf = null,
        Func<string, bool>? skip = null, int? feedForwardLengthOverride = null, float[]? ropeFactors = null)
    {
        string arch = c.Family == ModelFamily.Qwen2 ? "qwen2" : "llama";
        var b = new GgufBuilder { Version = 3 };
        b.AddString("general.architecture", arch);
        b.AddUInt32($"{arch}.context_length", (uint)c.MaxSeqLen);
        b.AddUInt32($"{arch}.embedding_length", (uint)c.Dim);
        b.AddUInt32($"{arch}.block_count", (uint)c.Layers);
        b.AddUInt32($"{arch}.feed_forward_length", (uint)(feedForwardLengthOverride ?? c.HiddenDim));
        b.AddUInt32($"{arch}.attention.head_count", (uint)c.Heads);
        b.AddUInt32($"{arch}.attention.head_count_kv", (uint)c.KvHeads);
        b.AddUInt32($"{arch}.rope.dimension_count", (uint)c.HeadDim);
        b.AddFloat32($"{arch}.attention.layer_norm_rms_epsilon", c.NormEps);
        b.AddFloat32($"{arch}.rope.freq_base", c.RopeTheta);
        b.AddUInt32($"{arch}.vocab_size", (uint)c.Vocab);
        foreach (var spec in WeightLayout.Required(c))
        {
            string name = GgufWeightNames.Of(spec.Id);
            if (skip?.Invoke(name) == true)
                continue;
            var data = weights[HfWeightNames.Of(spec.Id, c)];
            uint type = typeOf?.Invoke(name) ?? F32;
            b.AddTensor(name, type, spec.Shape.Reverse().Select(d => (ulong)d).ToArray(), Encode(data, type));
        }
        if (ropeFactors is not null)
            b.AddTensor("rope_freqs.weight", F32, [(ulong)ropeFactors.Length], Encode(ropeFactors, F32));
        return b.Build();
    }

    public static byte[] Encode(float[] v, uint type)
    {
        using var ms = new MemoryStream();
        using var w = new BinaryWriter(ms);
        switch (type)
        {
            case F32:
                foreach (var x in v) w.Write(x);
                break;
            case F16:
                foreach (var x in v) w.Write((Half)x);
                break;
            case Q8_0:
                // Blocks of 32: an f16 scale d = max|x| / 127, then round(x / d) as int8.
                for (int i = 0; i < v.Length; i += 32)
                {
                    float amax = 0;
                    for (int j = 0; j < 32; j++) amax = Math.Max(amax, Math.Abs(v[i + j]));
                    var d = (Half)(amax / 127f);
                    w.Write(d);
                    for (int j = 0; j < 32; j++)
                        w.Write((sbyte)(d == Half.Zero ? 0 : Math.Clamp(MathF.Round(v[i + j] / (float)d), -127, 127)));
                }
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type));
        }
        return ms.ToArray();
    }

    /// <summary>The values a reader recovers from <see cref="Encode"/>d data (what the model really computes with).</summary>
    public static float[] RoundTrip(float[] v, uint type)
    {
        var bytes = Encode(v, type);
        var r = new float[v.Length];
        switch (type)
        {
            case F32: return (float[])v.Clone();
            case F16:
                for (int i = 0; i < v.Length; i++) r[i] = (float)BitConverter.ToHalf(bytes, 2 * i);
                return r;
            default:
                for (int blk = 0; blk < v.Length / 32; blk++)
                {
                    float d = (float)BitConverter.ToHalf(bytes, blk * 34);
                    for (int j = 0; j < 32; j++) r[blk * 32 + j] = d * (sbyte)bytes[blk * 34 + 2 + j];
                }
                return r;
        }
    }
}
