using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Caprese.Oracle.Tests.Reference;

/// <summary>
/// Reference forward pass of Llama / Qwen2 / Gemma 2 decoders in TorchSharp, written from the
/// architectures' definitions. Everything runs in float64 and every call recomputes the whole
/// sequence (no KV cache), so the only approximation left is the float32 storage of the weights:
/// it is the tight side of an f32-runtime-vs-oracle comparison.
/// Weights are named as in Hugging Face checkpoints (model.layers.N.self_attn.q_proj.weight, …),
/// each [out, in] for projections.
/// </summary>
public sealed class TorchDecoder : IDisposable
{
    private readonly Dictionary<string, Tensor> _w = new(StringComparer.Ordinal);
    private readonly Tensor _cos;
    private readonly Tensor _sin;
    private readonly int _maxPositions;

    public TorchDecoder(OracleConfig config, IReadOnlyDictionary<string, float[]> weights, int maxPositions = 1024)
    {
        Config = config;
        _maxPositions = maxPositions;
        foreach (var (name, shape) in ExpectedShapes(config))
        {
            if (!weights.TryGetValue(name, out var data))
                throw new KeyNotFoundException($"weight {name} is missing");
            long count = shape.Aggregate(1L, (a, b) => a * b);
            if (data.Length != count)
                throw new ArgumentException($"weight {name} has {data.Length} values, [{string.Join(", ", shape)}] needs {count}");
            using var f32 = torch.tensor(data, shape);
            _w[name] = f32.to_type(ScalarType.Float64);
        }

        // Angle table [positions, D/2]: position × frequency, both exact in float64.
        var freqs = config.Frequencies();
        if (freqs.Length != config.HeadDim / 2)
            throw new ArgumentException($"{freqs.Length} RoPE frequencies for head dim {config.HeadDim}");
        using var pos = torch.arange(maxPositions, dtype: ScalarType.Float64).unsqueeze(1);
        using var f = torch.tensor(freqs, dtype: ScalarType.Float64).unsqueeze(0);
        using var angles = pos * f;
        _cos = angles.cos();
        _sin = angles.sin();
    }

    public OracleConfig Config { get; }

    /// <summary>Names and shapes of the weights this configuration reads.</summary>
    public static IEnumerable<(string Name, long[] Shape)> ExpectedShapes(OracleConfig c)
    {
        long h = c.Hidden, q = (long)c.Heads * c.HeadDim, kv = (long)c.KvHeads * c.HeadDim, ff = c.Intermediate;
        yield return ("model.embed_tokens.weight", [c.Vocab, h]);
        for (int l = 0; l < c.Layers; l++)
        {
            string p = $"model.layers.{l}.";
            yield return (p + "input_layernorm.weight", [h]);
            yield return (p + "self_attn.q_proj.weight", [q, h]);
            yield return (p + "self_attn.k_proj.weight", [kv, h]);
            yield return (p + "self_attn.v_proj.weight", [kv, h]);
            if (c.QkvBias)
            {
                yield return (p + "self_attn.q_proj.bias", [q]);
                yield return (p + "self_attn.k_proj.bias", [kv]);
                yield return (p + "self_attn.v_proj.bias", [kv]);
            }
            yield return (p + "self_attn.o_proj.weight", [h, q]);
            // Llama/Qwen2 call their pre-FFN norm "post_attention_layernorm"; Gemma 2 uses that
            // name for the norm of the attention output and has a separate pre_feedforward_layernorm.
            yield return (p + "post_attention_layernorm.weight", [h]);
            if (c.SandwichNorms)
            {
                yield return (p + "pre_feedforward_layernorm.weight", [h]);
                yield return (p + "post_feedforward_layernorm.weight", [h]);
            }
            yield return (p + "mlp.gate_proj.weight", [ff, h]);
            yield return (p + "mlp.up_proj.weight", [ff, h]);
            yield return (p + "mlp.down_proj.weight", [h, ff]);
        }
        yield return ("model.norm.weight", [h]);
        if (!c.TiedEmbeddings)
            yield return ("lm_head.weight", [c.Vocab, h]);
    }

    /// <summary>Logits of every position of <paramref name="tokens"/> (positions 0..T-1): [T, vocab].</summary>
    public double[][] Logits(IReadOnlyList<int> tokens)
    {
        using var scope = torch.NewDisposeScope();
        var logits = Forward(tokens);
        var flat = logits.contiguous().data<double>().ToArray();
        int v = Config.Vocab;
        return Enumerable.Range(0, tokens.Count).Select(t => flat.AsSpan(t * v, v).ToArray()).ToArray();
    }

    /// <summary>Logits after the last token.</summary>
    public double[] LastLogits(IReadOnlyList<int> tokens) => Logits(tokens)[^1];

    /// <summary>Greedy continuation (argmax, first index on ties), recomputing the sequence each step.</summary>
    public int[] Greedy(IReadOnlyList<int> prompt, int steps)
    {
        var seq = prompt.ToList();
        var generated = new int[steps];
        for (int s = 0; s < steps; s++)
        {
            generated[s] = Argmax(LastLogits(seq));
            seq.Add(generated[s]);
        }
        return generated;
    }

    public static int Argmax(ReadOnlySpan<double> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
            if (values[i] > values[best])
                best = i;
        return best;
    }

    private Tensor Forward(IReadOnlyList<int> tokens)
    {
        var c = Config;
        int t = tokens.Count;
        if (t == 0 || t > _maxPositions)
            throw new ArgumentOutOfRangeException(nameof(tokens), t, $"1..{_maxPositions} tokens");
        using var ids = torch.tensor(tokens.Select(i => (long)i).ToArray(), ScalarType.Int64);
        var x = _w["model.embed_tokens.weight"].index_select(0, ids);
        if (c.EmbeddingScale != 1)
            x = x * c.EmbeddingScale;

        var cos = _cos.narrow(0, 0, t);
        var sin = _sin.narrow(0, 0, t);
        for (int l = 0; l < c.Layers; l++)
        {
            string p = $"model.layers.{l}.";
            var h = RmsNorm(x, p + "input_layernorm.weight");
            var attn = Attention(h, p, cos, sin, c.WindowOf(l));
            if (c.SandwichNorms)
                attn = RmsNorm(attn, p + "post_attention_layernorm.weight");
            x = x + attn;

            h = RmsNorm(x, p + (c.SandwichNorms ? "pre_feedforward_layernorm.weight" : "post_attention_layernorm.weight"));
            var gate = Linear(h, p + "mlp.gate_proj.weight");
            var up = Linear(h, p + "mlp.up_proj.weight");
            var ffn = Linear(Activate(gate) * up, p + "mlp.down_proj.weight");
            if (c.SandwichNorms)
                ffn = RmsNorm(ffn, p + "post_feedforward_layernorm.weight");
            x = x + ffn;
        }
        x = RmsNorm(x, "model.norm.weight");
        var logits = torch.matmul(x, _w[c.TiedEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight"].t());
        if (c.FinalLogitSoftcap is { } cap)
            logits = SoftCap(logits, cap);
        return logits;
    }

    // Causal grouped-query attention over the whole sequence, h: [T, hidden] -> [T, hidden].
    private Tensor Attention(Tensor h, string p, Tensor cos, Tensor sin, int window)
    {
        var c = Config;
        long t = h.shape[0];
        var q = Linear(h, p + "self_attn.q_proj.weight", c.QkvBias ? p + "self_attn.q_proj.bias" : null).view(t, c.Heads, c.HeadDim);
        var k = Linear(h, p + "self_attn.k_proj.weight", c.QkvBias ? p + "self_attn.k_proj.bias" : null).view(t, c.KvHeads, c.HeadDim);
        var v = Linear(h, p + "self_attn.v_proj.weight", c.QkvBias ? p + "self_attn.v_proj.bias" : null).view(t, c.KvHeads, c.HeadDim);
        q = Rotate(q, cos, sin);
        k = Rotate(k, cos, sin);

        // Query head i reads KV head i / (Heads / KvHeads).
        int group = c.Heads / c.KvHeads;
        k = k.repeat_interleave(group, 1);
        v = v.repeat_interleave(group, 1);

        var qh = q.transpose(0, 1);                   // [H, T, D]
        var kh = k.transpose(0, 1);
        var vh = v.transpose(0, 1);
        var scores = torch.matmul(qh, kh.transpose(1, 2)) * c.EffectiveAttentionScale; // [H, T, T]
        if (c.AttentionSoftcap is { } cap)
            scores = SoftCap(scores, cap);

        // Key j is visible to query i when j ≤ i and, with a window W, i - j < W.
        var i = torch.arange(t, dtype: ScalarType.Int64).unsqueeze(1);
        var j = torch.arange(t, dtype: ScalarType.Int64).unsqueeze(0);
        var visible = j <= i;
        if (window > 0)
            visible = visible & (i - j < window);
        scores = scores.masked_fill(visible.logical_not(), double.NegativeInfinity);
        var probs = F.softmax(scores, -1);
        var outHeads = torch.matmul(probs, vh);          // [H, T, D]
        var merged = outHeads.transpose(0, 1).reshape(t, c.Heads * c.HeadDim);
        return Linear(merged, p + "self_attn.o_proj.weight");
    }

    // RoPE on x: [T, heads, D], rotating each pair by position × frequency.
    private Tensor Rotate(Tensor x, Tensor cos, Tensor sin)
    {
        long t = x.shape[0], heads = x.shape[1], d = x.shape[2];
        var cs = cos.unsqueeze(1); // [T, 1, D/2]
        var sn = sin.unsqueeze(1);
        if (Config.Rope == RopeLayout.InterleavedPairs)
        {
            var pairs = x.view(t, heads, d / 2, 2);
            var a = pairs.select(3, 0);
            var b = pairs.select(3, 1);
            return torch.stack([a * cs - b * sn, a * sn + b * cs], 3).view(t, heads, d);
        }
        var first = x.narrow(2, 0, d / 2);
        var second = x.narrow(2, d / 2, d / 2);
        return torch.cat([first * cs - second * sn, second * cs + first * sn], 2);
    }

    private Tensor RmsNorm(Tensor x, string weight)
    {
        var w = _w[weight];
        if (Config.NormAddsOne)
            w = w + 1;
        var inverseRms = (x.pow(2).mean([-1L], keepdim: true) + Config.NormEps).rsqrt();
        return x * inverseRms * w;
    }

    private Tensor Linear(Tensor x, string weight, string? bias = null) =>
        F.linear(x, _w[weight], bias is null ? null : _w[bias]);

    private Tensor Activate(Tensor x) => Config.Activation switch
    {
        FfnActivation.Silu => x * x.sigmoid(),
        // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), written out to pin the approximation.
        FfnActivation.GeluTanh => 0.5 * x * (1 + (Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x.pow(3))).tanh()),
        _ => throw new NotSupportedException(Config.Activation.ToString()),
    };

    private static Tensor SoftCap(Tensor x, double cap) => (x / cap).tanh() * cap;

    public void Dispose()
    {
        foreach (var t in _w.Values)
            t.Dispose();
        _w.Clear();
        _cos.Dispose();
        _sin.Dispose();
    }
}
