using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Caprese.Benchmarks.Peers;

/// <summary>
/// The CPU peer: a float32 Llama decoder in TorchSharp (libtorch) with a preallocated KV cache,
/// for llama2.c weights (interleaved RoPE pairs). Written the way one would write an efficient
/// eager-mode decoder: no autograd, fused q/k/v and gate/up matrices, in-place cache writes,
/// matrices stored transposed ([in, out]) because libtorch's CPU x·Wᵀ path for a single row is
/// about 2× slower than x·W on a contiguous [in, out] matrix (measured: 9.3 vs 4.9 ms for the
/// 32000×768 classifier).
/// </summary>
public sealed class TorchLlamaDecoder : IDisposable
{
    private readonly Llama2cShape _s;
    private readonly Tensor _embedding;
    private readonly Tensor[] _attentionNorm, _wqkv, _wo, _ffnNorm, _wGateUp, _wDown;
    private readonly Tensor _finalNorm, _classifierT;
    private readonly Tensor[] _keys, _values; // [layers] of [kvHeads, seq, headDim]
    private readonly Tensor _cos, _sin;       // [seq, headDim/2]
    private const float Eps = 1e-5f;

    public TorchLlamaDecoder(Llama2cShape shape, Llama2cTensors t)
    {
        _s = shape;
        using var noGrad = torch.no_grad();
        Tensor T(float[] data, params long[] dims) => torch.tensor(data, dims);
        _embedding = T(t.Embedding, _s.Vocab, _s.Dim);
        _attentionNorm = t.AttentionNorm.Select(w => T(w, _s.Dim)).ToArray();
        _wqkv = Enumerable.Range(0, _s.Layers).Select(l =>
        {
            using var q = T(t.Wq[l], _s.Dim, _s.Dim);
            using var k = T(t.Wk[l], _s.KvDim, _s.Dim);
            using var v = T(t.Wv[l], _s.KvDim, _s.Dim);
            using var qkv = torch.cat([q, k, v], 0);
            return qkv.t().contiguous();
        }).ToArray();
        _wo = t.Wo.Select(w => Transposed(T(w, _s.Dim, _s.Dim))).ToArray();
        _ffnNorm = t.FfnNorm.Select(w => T(w, _s.Dim)).ToArray();
        _wGateUp = Enumerable.Range(0, _s.Layers).Select(l =>
        {
            using var g = T(t.Gate[l], _s.Hidden, _s.Dim);
            using var u = T(t.Up[l], _s.Hidden, _s.Dim);
            using var gu = torch.cat([g, u], 0);
            return gu.t().contiguous();
        }).ToArray();
        _wDown = t.Down.Select(w => Transposed(T(w, _s.Dim, _s.Hidden))).ToArray();
        _finalNorm = T(t.FinalNorm, _s.Dim);
        _classifierT = ReferenceEquals(t.Classifier, t.Embedding) ? _embedding.t().contiguous() : Transposed(T(t.Classifier, _s.Vocab, _s.Dim));
        _keys = Enumerable.Range(0, _s.Layers).Select(_ => torch.zeros(_s.KvHeads, _s.SeqLen, _s.HeadDim)).ToArray();
        _values = Enumerable.Range(0, _s.Layers).Select(_ => torch.zeros(_s.KvHeads, _s.SeqLen, _s.HeadDim)).ToArray();

        var freqs = Enumerable.Range(0, _s.HeadDim / 2).Select(i => (float)Math.Pow(10000, -2.0 * i / _s.HeadDim)).ToArray();
        using var pos = torch.arange(_s.SeqLen, dtype: ScalarType.Float32).unsqueeze(1);
        using var f = torch.tensor(freqs).unsqueeze(0);
        using var angles = pos * f;
        _cos = angles.cos();
        _sin = angles.sin();
    }

    /// <summary>Feeds one token at <paramref name="pos"/> and returns the greedy next token.</summary>
    public int DecodeStepArgmax(int token, int pos)
    {
        using var noGrad = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var s = _s;
        int group = s.Heads / s.KvHeads;
        var x = _embedding[token].unsqueeze(0);                    // [1, dim]
        var cos = _cos[pos].view(1, s.HeadDim / 2);
        var sin = _sin[pos].view(1, s.HeadDim / 2);
        for (int l = 0; l < s.Layers; l++)
        {
            var qkv = torch.matmul(RmsNorm(x, _attentionNorm[l]), _wqkv[l]).view(-1);
            var q = Rope(qkv.narrow(0, 0, s.Dim).view(s.Heads, s.HeadDim), cos, sin);
            var k = Rope(qkv.narrow(0, s.Dim, s.KvDim).view(s.KvHeads, s.HeadDim), cos, sin);
            var v = qkv.narrow(0, s.Dim + s.KvDim, s.KvDim).view(s.KvHeads, s.HeadDim);
            _keys[l].select(1, pos).copy_(k);
            _values[l].select(1, pos).copy_(v);

            // Grouped attention without copying the cache: [kv, group, D] · [kv, D, T].
            var keys = _keys[l].narrow(1, 0, pos + 1);
            var values = _values[l].narrow(1, 0, pos + 1);
            var qg = q.view(s.KvHeads, group, s.HeadDim);
            var scores = torch.matmul(qg, keys.transpose(1, 2)) * (1f / MathF.Sqrt(s.HeadDim));
            var att = torch.matmul(F.softmax(scores, -1), values).reshape(1, s.Dim);
            x = x + torch.matmul(att, _wo[l]);

            var gu = torch.matmul(RmsNorm(x, _ffnNorm[l]), _wGateUp[l]);
            var gate = gu.narrow(1, 0, s.Hidden);
            var up = gu.narrow(1, s.Hidden, s.Hidden);
            x = x + torch.matmul(F.silu(gate) * up, _wDown[l]);
        }
        var logits = torch.matmul(RmsNorm(x, _finalNorm), _classifierT);
        return (int)logits.argmax().item<long>();
    }

    private static Tensor Transposed(Tensor w)
    {
        using (w)
            return w.t().contiguous();
    }

    private static Tensor RmsNorm(Tensor x, Tensor w) =>
        x * (x.pow(2).mean([-1L], keepdim: true) + Eps).rsqrt() * w;

    // Interleaved pairs (2i, 2i+1) rotated by pos · θ^(-2i/D); x: [heads, D].
    private static Tensor Rope(Tensor x, Tensor cos, Tensor sin)
    {
        var pairs = x.view(x.shape[0], -1, 2);
        var a = pairs.select(2, 0);
        var b = pairs.select(2, 1);
        return torch.stack([a * cos - b * sin, a * sin + b * cos], 2).view(x.shape[0], -1);
    }

    public void Dispose()
    {
        foreach (var t in new[] { _embedding, _finalNorm, _classifierT, _cos, _sin }
            .Concat(_attentionNorm).Concat(_wqkv).Concat(_wo).Concat(_ffnNorm).Concat(_wGateUp).Concat(_wDown)
            .Concat(_keys).Concat(_values))
            t.Dispose();
    }
}
