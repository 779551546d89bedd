using Caprese.Oracle.Tests.Llama2c;
using Caprese.Oracle.Tests.Support;

namespace Caprese.Oracle.Tests.Reference;

/// <summary>Checks of the oracle against itself, independent of the runtime.</summary>
public class OracleSelfTests
{
    /// <summary>
    /// Hugging Face stores q/k rows permuted so that half-split RoPE equals Meta's interleaved RoPE.
    /// Applying that permutation to stories260K and switching the layout must leave the logits
    /// unchanged: both RoPE conventions of the oracle agree.
    /// </summary>
    [Fact]
    public void HalfSplitOnPermutedRowsEqualsInterleaved()
    {
        var (config, weights, maxSeq) = Llama2cReader.Read(Paths.Stories260K);
        int[] tokens = [1, 403, 407, 261, 378, 432, 383, 286];
        double[] interleaved;
        using (var d = new TorchDecoder(config, weights, maxSeq))
            interleaved = d.LastLogits(tokens);

        var permuted = new Dictionary<string, float[]>(weights);
        for (int l = 0; l < config.Layers; l++)
        {
            string p = $"model.layers.{l}.self_attn.";
            permuted[p + "q_proj.weight"] = PermuteRows(weights[p + "q_proj.weight"], config.Heads, config.HeadDim, config.Hidden);
            permuted[p + "k_proj.weight"] = PermuteRows(weights[p + "k_proj.weight"], config.KvHeads, config.HeadDim, config.Hidden);
        }
        double[] halfSplit;
        using (var d = new TorchDecoder(config with { Rope = RopeLayout.HalfSplit }, permuted, maxSeq))
            halfSplit = d.LastLogits(tokens);

        Assert.Equal(interleaved.Length, halfSplit.Length);
        Assert.True(interleaved.Zip(halfSplit, (a, b) => Math.Abs(a - b)).Max() < 1e-10);
    }

    /// <summary>A window as long as the sequence is no window.</summary>
    [Fact]
    public void WindowCoveringTheSequenceIsFullAttention()
    {
        var (config, weights, maxSeq) = Llama2cReader.Read(Paths.Stories260K);
        int[] tokens = [1, 403, 407, 261, 378, 432];
        using var full = new TorchDecoder(config, weights, maxSeq);
        using var wide = new TorchDecoder(config with { LayerWindows = Enumerable.Repeat(tokens.Length, config.Layers).ToArray() }, weights, maxSeq);
        using var narrow = new TorchDecoder(config with { LayerWindows = Enumerable.Repeat(tokens.Length - 1, config.Layers).ToArray() }, weights, maxSeq);
        var a = full.LastLogits(tokens);
        Assert.True(a.Zip(wide.LastLogits(tokens), (x, y) => Math.Abs(x - y)).Max() < 1e-12);
        Assert.True(a.Zip(narrow.LastLogits(tokens), (x, y) => Math.Abs(x - y)).Max() > 1e-6);
    }

    /// <summary>llama3 scaling keeps short wavelengths, divides long ones by the factor, blends between.</summary>
    [Fact]
    public void Llama3FrequenciesFollowTheirBands()
    {
        const int headDim = 16, original = 64;
        var plain = OracleConfig.DefaultFrequencies(headDim, 500000);
        var scaled = OracleConfig.Llama3Frequencies(headDim, 500000, 8, 1, 4, original);
        int kept = 0, divided = 0, blended = 0;
        for (int i = 0; i < plain.Length; i++)
        {
            double wavelength = 2 * Math.PI / plain[i];
            if (wavelength < original / 4.0) { Assert.Equal(plain[i], scaled[i]); kept++; }
            else if (wavelength > original / 1.0) { Assert.Equal(plain[i] / 8, scaled[i], 15); divided++; }
            else { Assert.InRange(scaled[i], plain[i] / 8, plain[i]); blended++; }
        }
        Assert.True(kept > 0 && divided > 0 && blended > 0, $"kept {kept}, blended {blended}, divided {divided}");
    }

    // Meta -> HF: within each head, rows (2i, 2i+1) become (i, i + D/2).
    private static float[] PermuteRows(float[] w, int heads, int headDim, int cols)
    {
        var o = new float[w.Length];
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < headDim / 2; i++)
            {
                Array.Copy(w, (long)(h * headDim + 2 * i) * cols, o, (long)(h * headDim + i) * cols, cols);
                Array.Copy(w, (long)(h * headDim + 2 * i + 1) * cols, o, (long)(h * headDim + headDim / 2 + i) * cols, cols);
            }
        return o;
    }
}
