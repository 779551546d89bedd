namespace Caprese.Models.Tests.Sparsity;

/// <summary>
/// Layer 0's FFN gate g = Wg·xn and intermediate z = silu(g) ⊙ (Wu·xn) for a one-token prompt of a Llama-style
/// model, in plain loops from the HF-named weights: with one position attention returns V itself, so the
/// whole path is a few matrix-vector products.
/// </summary>
internal static class SparseDecodeReference
{
    public static (double[] Gate, double[] Z) LayerZeroFfn(Caprese.Models.Transformer.ModelConfig c, Dictionary<string, float[]> w, int token)
    {
        int d = c.Dim, hd = c.HeadDim, group = c.Heads / c.KvHeads;
        var x = new double[d];
        for (int i = 0; i < d; i++)
            x[i] = w["model.embed_tokens.weight"][token * d + i];
        var xn = RmsNorm(x, w["model.layers.0.input_layernorm.weight"], c.NormEps);
        var v = MatVec(w["model.layers.0.self_attn.v_proj.weight"], xn, c.KvHeads * hd);
        var att = new double[c.Heads * hd];
        for (int h = 0; h < c.Heads; h++)
            for (int i = 0; i < hd; i++)
                att[h * hd + i] = v[h / group * hd + i];
        var proj = MatVec(w["model.layers.0.self_attn.o_proj.weight"], att, d);
        for (int i = 0; i < d; i++)
            x[i] += proj[i];
        xn = RmsNorm(x, w["model.layers.0.post_attention_layernorm.weight"], c.NormEps);
        var g = MatVec(w["model.layers.0.mlp.gate_proj.weight"], xn, c.HiddenDim);
        var u = MatVec(w["model.layers.0.mlp.up_proj.weight"], xn, c.HiddenDim);
        return (g, [.. g.Select((gj, j) => gj / (1 + Math.Exp(-gj)) * u[j])]);
    }

    private static double[] RmsNorm(double[] x, float[] weight, float eps)
    {
        double scale = 1 / Math.Sqrt(x.Sum(v => v * v) / x.Length + eps);
        return [.. x.Select((v, i) => v * scale * weight[i])];
    }

    private static double[] MatVec(float[] m, double[] x, int rows)
    {
        var y = new double[rows];
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < x.Length; k++)
                y[r] += m[r * x.Length + k] * x[k];
        return y;
    }
}
