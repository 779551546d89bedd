using Caprese.Models.Sparsity;
using Caprese.Models.Transformer;

namespace Caprese.Models.Tests.Sparsity;

/// <summary>Selections and thresholds the model computes from its dense prefill, against plain-loop references.</summary>
public sealed class SyntheticSparsityTests
{
    private static readonly ModelConfig Config = ModelPresets.Tiny(ModelFamily.Llama);

    [Fact]
    public void GriffinSelectsTheTopNeuronsOfTheReferenceIntermediate()
    {
        var weights = SyntheticModel.RandomWeights(Config, seed: 7);
        using var loaded = SyntheticModel.FromWeights(Config, weights);
        loaded.Model.SetSparsity(new SparsityOptions(SparsityMethod.Griffin, 0.5, 0, 1, GriffinPath: GriffinPath.Gather));
        loaded.Model.Prefill([13], 0);

        var (_, z) = SparseDecodeReference.LayerZeroFfn(Config, weights, 13);
        int k = GriffinSelector.KeptCount(Config.HiddenDim, 0.5);
        var expected = Enumerable.Range(0, z.Length).OrderByDescending(j => Math.Abs(z[j])).Take(k).Order().ToArray();
        Assert.Equal(expected, loaded.Model.SparseDecoder!.SelectedNeurons(0));
        Assert.Null(loaded.Model.SparseDecoder.SelectedNeurons(1)); // not a sparsified layer
    }

    [Fact]
    public void CatsThresholdIsTheQuantileOfTheReferenceGate()
    {
        var weights = SyntheticModel.RandomWeights(Config, seed: 8);
        using var loaded = SyntheticModel.FromWeights(Config, weights);
        loaded.Model.SetSparsity(new SparsityOptions(SparsityMethod.Cats, 0.5));
        loaded.Model.Prefill([21], 0);

        var (g, _) = SparseDecodeReference.LayerZeroFfn(Config, weights, 21);
        var magnitudes = g.Select(v => Math.Abs(v / (1 + Math.Exp(-v)))).Order().ToArray();
        Assert.Equal(magnitudes[magnitudes.Length / 2], loaded.Model.SparseDecoder!.Threshold(0), 1e-5);
    }

    [Theory]
    [InlineData(SparsityMethod.Griffin)]
    [InlineData(SparsityMethod.Cats)]
    public void ChunkedPrefillGivesTheSameSelection(SparsityMethod method)
    {
        int[] prompt = [3, 17, 42, 5, 9, 63, 0, 28, 11];
        using var whole = SyntheticModel.Create(Config, seed: 4, cancellationToken: TestContext.Current.CancellationToken);
        using var chunked = SyntheticModel.Create(Config, seed: 4, options: new ModelLoadOptions(MaxBatchRows: 2), cancellationToken: TestContext.Current.CancellationToken);
        foreach (var m in new[] { whole.Model, chunked.Model })
        {
            m.SetSparsity(new SparsityOptions(method, 0.5));
            m.Prefill(prompt, 0);
        }
        for (int l = 0; l < Config.Layers; l++)
        {
            Assert.Equal(whole.Model.SparseDecoder!.SelectedNeurons(l), chunked.Model.SparseDecoder!.SelectedNeurons(l));
            Assert.Equal(whole.Model.SparseDecoder.Threshold(l), chunked.Model.SparseDecoder.Threshold(l), 1e-6f);
        }
    }

    [Fact]
    public void TealThresholdIsTheQuantileOfTheReferenceInput()
    {
        var weights = SyntheticModel.RandomWeights(Config, seed: 9);
        using var loaded = SyntheticModel.FromWeights(Config, weights);
        loaded.Model.SetSparsity(new SparsityOptions(SparsityMethod.Teal, 0.25));
        loaded.Model.Prefill([30], 0);

        // Layer 0's attention input for one token: rmsnorm(embedding row) ⊙ norm weight.
        int d = Config.Dim;
        var e = weights["model.embed_tokens.weight"].AsSpan(30 * d, d).ToArray();
        double scale = 1 / Math.Sqrt(e.Sum(v => (double)v * v) / d + Config.NormEps);
        var norm = weights["model.layers.0.input_layernorm.weight"];
        var magnitudes = e.Select((v, i) => Math.Abs(v * scale * norm[i])).Order().ToArray();
        Assert.Equal(magnitudes[d / 4], loaded.Model.Teal!.Threshold(0, TealSite.Attention), 1e-5);
        Assert.Equal(SparsityMethod.Teal, loaded.Model.Sparsity.Method);
        Assert.Null(loaded.Model.SparseDecoder);
    }

    [Fact]
    public void TealMaskZeroesOnlyEntriesBelowTau()
    {
        float[] x = [0.5f, -0.2f, 0.1f, -0.7f, 0.3f];
        TealCalibrator.Mask(x, 0.3f);
        Assert.Equal([0.5f, 0f, 0f, -0.7f, 0.3f], x);
    }
}
