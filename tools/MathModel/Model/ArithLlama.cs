using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Caprese.MathModel.Model;

/// <summary>
/// The arithmetic model for training in TorchSharp: its parameters are a name → tensor map under Hugging Face's Llama
/// names, so exporting is writing the map (tied embeddings: there is no lm_head.weight). RoPE rotates the two halves of
/// each head (HF's rotate_half layout), which is what Caprese's loader expects of a Hugging Face checkpoint.
/// </summary>
public sealed class ArithLlama : IDisposable
{
    private readonly Dictionary<string, Parameter> _w = new(StringComparer.Ordinal);
    private readonly Tensor _cos, _sin;

    public ArithLlamaConfig Config { get; }

    public ArithLlama(ArithLlamaConfig config, int seed)
    {
        Config = config;
        var c = config;
        var gen = new Generator((ulong)seed);
        // GPT-2's initialisation: N(0, 0.02), the projections that write into the residual stream scaled by 1/√(2L).
        double std = 0.02, residualStd = 0.02 / Math.Sqrt(2 * c.Layers);
        Add("model.embed_tokens.weight", [c.VocabSize, c.Hidden], std, gen);
        for (int l = 0; l < c.Layers; l++)
        {
            string p = $"model.layers.{l}.";
            AddOnes(p + "input_layernorm.weight", c.Hidden);
            Add(p + "self_attn.q_proj.weight", [c.Heads * c.HeadDim, c.Hidden], std, gen);
            Add(p + "self_attn.k_proj.weight", [c.KvHeads * c.HeadDim, c.Hidden], std, gen);
            Add(p + "self_attn.v_proj.weight", [c.KvHeads * c.HeadDim, c.Hidden], std, gen);
            Add(p + "self_attn.o_proj.weight", [c.Hidden, c.Heads * c.HeadDim], residualStd, gen);
            AddOnes(p + "post_attention_layernorm.weight", c.Hidden);
            Add(p + "mlp.gate_proj.weight", [c.Intermediate, c.Hidden], std, gen);
            Add(p + "mlp.up_proj.weight", [c.Intermediate, c.Hidden], std, gen);
            Add(p + "mlp.down_proj.weight", [c.Hidden, c.Intermediate], residualStd, gen);
        }
        AddOnes("model.norm.weight", c.Hidden);

        var inv = torch.pow(c.RopeTheta, -torch.arange(0, c.HeadDim, 2, dtype: ScalarType.Float64) / c.HeadDim);
        var angles = torch.outer(torch.arange(c.MaxPositions, dtype: ScalarType.Float64), inv);
        _cos = angles.cos().to(ScalarType.Float32);
        _sin = angles.sin().to(ScalarType.Float32);
    }

    public IReadOnlyDictionary<string, Parameter> Parameters => _w;


    private void Add(string name, long[] shape, double std, Generator gen) =>
        _w[name] = new Parameter(torch.randn(shape, generator: gen) * std);

    private void AddOnes(string name, long size) => _w[name] = new Parameter(torch.ones(size));

    /// <summary>Replaces the values of every parameter (resuming from a checkpoint).</summary>
    public void Load(IReadOnlyDictionary<string, float[]> values)
    {
        using var _ = torch.no_grad();
        foreach (var (name, tensor) in _w)
        {
            if (!values.TryGetValue(name, out var v) || v.Length != tensor.numel())
                throw new InvalidDataException($"checkpoint lacks '{name}' or its size differs");
            tensor.copy_(torch.tensor(v).view(tensor.shape));
        }
    }

    /// <summary>Logits [B, T, V] for token ids [B, T] (causal; padding must come after each sequence's tokens).</summary>
    public Tensor Forward(Tensor ids)
    {
        var c = Config;
        long b = ids.shape[0], t = ids.shape[1];
        var x = _w["model.embed_tokens.weight"].index_select(0, ids.view(-1)).view(b, t, c.Hidden);
        var cos = _cos.narrow(0, 0, t).view(1, t, 1, c.HeadDim / 2);
        var sin = _sin.narrow(0, 0, t).view(1, t, 1, c.HeadDim / 2);
        var causal = torch.ones(t, t, dtype: ScalarType.Bool).tril().logical_not();
        for (int l = 0; l < c.Layers; l++)
        {
            string p = $"model.layers.{l}.";
            x = x + Attention(RmsNorm(x, p + "input_layernorm.weight"), p, cos, sin, causal);
            var h = RmsNorm(x, p + "post_attention_layernorm.weight");
            var gate = F.linear(h, _w[p + "mlp.gate_proj.weight"]);
            var up = F.linear(h, _w[p + "mlp.up_proj.weight"]);
            x = x + F.linear(F.silu(gate) * up, _w[p + "mlp.down_proj.weight"]);
        }
        x = RmsNorm(x, "model.norm.weight");
        return F.linear(x, _w["model.embed_tokens.weight"]);
    }

    private Tensor Attention(Tensor h, string p, Tensor cos, Tensor sin, Tensor causal)
    {
        var c = Config;
        long b = h.shape[0], t = h.shape[1];
        var q = F.linear(h, _w[p + "self_attn.q_proj.weight"]).view(b, t, c.Heads, c.HeadDim);
        var k = F.linear(h, _w[p + "self_attn.k_proj.weight"]).view(b, t, c.KvHeads, c.HeadDim);
        var v = F.linear(h, _w[p + "self_attn.v_proj.weight"]).view(b, t, c.KvHeads, c.HeadDim);
        q = Rotate(q, cos, sin).transpose(1, 2);                       // [B, H, T, D]
        k = Rotate(k, cos, sin).repeat_interleave(c.Heads / c.KvHeads, 2).transpose(1, 2);
        v = v.repeat_interleave(c.Heads / c.KvHeads, 2).transpose(1, 2);
        var scores = torch.matmul(q, k.transpose(2, 3)) * (1.0 / Math.Sqrt(c.HeadDim));
        scores = scores.masked_fill(causal, double.NegativeInfinity);
        var o = torch.matmul(F.softmax(scores, -1), v);                // [B, H, T, D]
        return F.linear(o.transpose(1, 2).reshape(b, t, c.Heads * c.HeadDim), _w[p + "self_attn.o_proj.weight"]);
    }

    private static Tensor Rotate(Tensor x, Tensor cos, Tensor sin)
    {
        long half = x.shape[3] / 2;
        var first = x.narrow(3, 0, half);
        var second = x.narrow(3, half, half);
        return torch.cat([first * cos - second * sin, second * cos + first * sin], 3);
    }

    private Tensor RmsNorm(Tensor x, string weight) =>
        x * (x.pow(2).mean([-1L], keepdim: true) + Config.NormEps).rsqrt() * _w[weight];

    public void Dispose()
    {
        foreach (var t in _w.Values)
            t.Dispose();
        _cos.Dispose();
        _sin.Dispose();
    }
}
