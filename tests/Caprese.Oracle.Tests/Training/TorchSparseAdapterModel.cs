using Caprese.Oracle.Tests.Reference;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Caprese.Oracle.Tests.Training;

/// <summary>
/// An independent float64 TorchSharp model of Caprese stage 2, written from the method's definition: the dense
/// teacher and the sparse + adapter student run the whole sequence (no KV cache); student rows before the prompt
/// end are dense, later rows multiply the FFN intermediate act(x·Wg) ⊙ (x·Wu) of each sparsified layer by a given
/// 0/1 mask and add x·L·R (x the FFN input). The loss is the mean over continuation rows and dimensions of the
/// squared difference of the final hidden states (after the final norm); torch autograd gives ∂loss/∂L, ∂loss/∂R.
/// Covers Llama, Qwen2 (biases) and Gemma 2 (sandwich norms, (1 + w) norms, GELU-tanh, embedding scale, attention
/// soft-cap, sliding window) from <see cref="OracleConfig"/>; weights in Hugging Face naming.
/// </summary>
public sealed class TorchSparseAdapterModel : IDisposable
{
    private readonly OracleConfig _c;
    private readonly Dictionary<string, Tensor> _w = new(StringComparer.Ordinal);

    public TorchSparseAdapterModel(OracleConfig config, IReadOnlyDictionary<string, float[]> weights)
    {
        _c = config;
        foreach (var (name, shape) in TorchDecoder.ExpectedShapes(config))
        {
            using var f32 = torch.tensor(weights[name], shape);
            _w[name] = f32.to_type(ScalarType.Float64);
        }
    }

    /// <summary>Loss and its gradients with respect to each adapter (layer → L [D·r], R [r·D], row-major).</summary>
    /// <param name="tokens">The sequence.</param>
    /// <param name="prompt">Rows 0 .. prompt - 1 are dense and adapter-free.</param>
    /// <param name="adapters">layer → (L [D, r], R [r, D]) of every sparsified layer.</param>
    /// <param name="masks">layer → 0/1 mask [(T - prompt)·H] of the continuation rows.</param>
    public (double Loss, Dictionary<int, (double[] L, double[] R)> Gradients) LossAndGradients(int[] tokens, int prompt,
        IReadOnlyDictionary<int, (float[] L, float[] R)> adapters, IReadOnlyDictionary<int, float[]> masks)
    {
        using var scope = torch.NewDisposeScope();
        int t = tokens.Length, rows = t - prompt, d = _c.Hidden, h = _c.Intermediate;
        var leaves = new Dictionary<int, (Tensor L, Tensor R)>();
        var fullMasks = new Dictionary<int, Tensor>();
        foreach (var (layer, (l, r)) in adapters)
        {
            int rank = l.Length / d;
            leaves[layer] = (torch.tensor(l.Select(v => (double)v).ToArray(), [d, rank]).requires_grad_(),
                torch.tensor(r.Select(v => (double)v).ToArray(), [rank, d]).requires_grad_());
            var dense = torch.ones(prompt, h, dtype: ScalarType.Float64);
            var sparse = torch.tensor(masks[layer].Select(v => (double)v).ToArray(), [rows, h]);
            fullMasks[layer] = torch.cat([dense, sparse], 0);
        }
        // 0 for prompt rows, 1 for continuation rows: where the adapter applies.
        var adapterRows = torch.cat([torch.zeros(prompt, 1, dtype: ScalarType.Float64), torch.ones(rows, 1, dtype: ScalarType.Float64)], 0);

        Tensor teacher;
        using (torch.no_grad())
            teacher = Forward(tokens, null, null, adapterRows).narrow(0, prompt, rows);
        var student = Forward(tokens, leaves, fullMasks, adapterRows).narrow(0, prompt, rows);
        var loss = (student - teacher).pow(2).mean();
        loss.backward();
        var grads = leaves.ToDictionary(p => p.Key,
            p => (p.Value.L.grad!.contiguous().data<double>().ToArray(), p.Value.R.grad!.contiguous().data<double>().ToArray()));
        return (loss.item<double>(), grads);
    }

    private Tensor Forward(int[] tokens, Dictionary<int, (Tensor L, Tensor R)>? adapters, Dictionary<int, Tensor>? masks, Tensor adapterRows)
    {
        var c = _c;
        int t = tokens.Length;
        var ids = torch.tensor(tokens.Select(i => (long)i).ToArray(), ScalarType.Int64);
        var x = _w["model.embed_tokens.weight"].index_select(0, ids) * c.EmbeddingScale;
        var angles = torch.arange(t, dtype: ScalarType.Float64).unsqueeze(1) * torch.tensor(c.Frequencies(), dtype: ScalarType.Float64).unsqueeze(0);
        var cos = angles.cos().unsqueeze(1);
        var sin = angles.sin().unsqueeze(1);
        for (int l = 0; l < c.Layers; l++)
        {
            string p = $"model.layers.{l}.";
            var a = SelfAttention(Norm(x, p + "input_layernorm.weight"), p, cos, sin, c.WindowOf(l));
            x = x + (c.SandwichNorms ? Norm(a, p + "post_attention_layernorm.weight") : a);

            var xn = Norm(x, p + (c.SandwichNorms ? "pre_feedforward_layernorm.weight" : "post_attention_layernorm.weight"));
            var z = Act(F.linear(xn, _w[p + "mlp.gate_proj.weight"])) * F.linear(xn, _w[p + "mlp.up_proj.weight"]);
            if (masks is not null && masks.TryGetValue(l, out var mask))
                z = z * mask;
            var ffn = F.linear(z, _w[p + "mlp.down_proj.weight"]);
            if (adapters is not null && adapters.TryGetValue(l, out var lr))
                ffn = ffn + adapterRows * torch.matmul(torch.matmul(xn, lr.L), lr.R);
            x = x + (c.SandwichNorms ? Norm(ffn, p + "post_feedforward_layernorm.weight") : ffn);
        }
        return Norm(x, "model.norm.weight");
    }

    private Tensor SelfAttention(Tensor xn, string p, Tensor cos, Tensor sin, int window)
    {
        var c = _c;
        long t = xn.shape[0];
        Tensor Proj(string name, int heads) =>
            F.linear(xn, _w[p + $"self_attn.{name}.weight"], c.QkvBias ? _w[p + $"self_attn.{name}.bias"] : null).view(t, heads, c.HeadDim);
        var q = Rotate(Proj("q_proj", c.Heads), cos, sin);
        var k = Rotate(Proj("k_proj", c.KvHeads), cos, sin).repeat_interleave(c.Heads / c.KvHeads, 1);
        var v = Proj("v_proj", c.KvHeads).repeat_interleave(c.Heads / c.KvHeads, 1);
        var scores = torch.matmul(q.transpose(0, 1), k.transpose(0, 1).transpose(1, 2)) * c.EffectiveAttentionScale; // [H, T, T]
        if (c.AttentionSoftcap is { } cap)
            scores = (scores / cap).tanh() * cap;
        var i = torch.arange(t, dtype: ScalarType.Int64).unsqueeze(1);
        var j = torch.arange(t, dtype: ScalarType.Int64).unsqueeze(0);
        var visible = j <= i;
        if (window > 0)
            visible = visible & (i - j < window);
        var probs = F.softmax(scores.masked_fill(visible.logical_not(), double.NegativeInfinity), -1);
        var o = torch.matmul(probs, v.transpose(0, 1)).transpose(0, 1).reshape(t, c.Heads * c.HeadDim);
        return F.linear(o, _w[p + "self_attn.o_proj.weight"]);
    }

    private Tensor Rotate(Tensor x, Tensor cos, Tensor sin)
    {
        long t = x.shape[0], heads = x.shape[1], d = x.shape[2];
        if (_c.Rope == RopeLayout.InterleavedPairs)
        {
            var pairs = x.view(t, heads, d / 2, 2);
            var a = pairs.select(3, 0);
            var b = pairs.select(3, 1);
            return torch.stack([a * cos - b * sin, a * sin + b * cos], 3).view(t, heads, d);
        }
        var first = x.narrow(2, 0, d / 2);
        var second = x.narrow(2, d / 2, d / 2);
        return torch.cat([first * cos - second * sin, second * cos + first * sin], 2);
    }

    private Tensor Norm(Tensor x, string weight)
    {
        var w = _c.NormAddsOne ? _w[weight] + 1 : _w[weight];
        return x * (x.pow(2).mean([-1L], keepdim: true) + _c.NormEps).rsqrt() * w;
    }

    private Tensor Act(Tensor g) => _c.Activation switch
    {
        FfnActivation.Silu => g * g.sigmoid(),
        FfnActivation.GeluTanh => 0.5 * g * (1 + (Math.Sqrt(2 / Math.PI) * (g + 0.044715 * g.pow(3))).tanh()),
        _ => throw new NotSupportedException(_c.Activation.ToString()),
    };

    public void Dispose()
    {
        foreach (var w in _w.Values)
            w.Dispose();
        _w.Clear();
    }
}
