using Caprese.Interop;
using Caprese.Models.Decoding;
using Caprese.Models.Sparsity;
using Caprese.Models.Transformer;
using Caprese.Models.Weights;

namespace Caprese.Models.Tests.Decoding;

public sealed class WeightTrafficTests
{
    // stories260K's shape: D 64, H 172, 5 layers, 8 heads of 8, 4 KV heads (KV dim 32), vocabulary 512, tied embeddings.
    private static readonly ModelConfig Stories260K = new()
    {
        Dim = 64, HiddenDim = 172, Layers = 5, Heads = 8, KvHeads = 4, HeadDim = 8, Vocab = 512, MaxSeqLen = 512,
    };

    // Per layer: attention q 64·64 + k 32·64 + v 32·64 + o 64·64 = 12288 elements, FFN 3·172·64 = 33024 elements,
    // two norms of 64 f32 = 512 bytes. Final norm 256 bytes; classifier = the tied table, 512·64 elements.
    private const long DenseF32 = 5 * ((12288 + 33024) * 4 + 512) + 256 + 512 * 64 * 4; // 1,040,128
    private const long DenseF16 = 5 * ((12288 + 33024) * 2 + 512) + 256 + 512 * 64 * 2; // 521,472

    [Fact]
    public void DenseStepReadsEveryMatrixNormAndTheClassifier()
    {
        Assert.Equal(1_040_128, DenseF32);
        Assert.Equal(DenseF32, WeightTraffic.DenseStepBytes(Stories260K, DType.F32));
        Assert.Equal(DenseF16, WeightTraffic.DenseStepBytes(Stories260K, DType.F16));
        Assert.Equal(DenseF16, WeightTraffic.DenseStepBytes(Stories260K, DType.BF16));

        // Untied: a classifier of the table's size, plus one row of the embedding table.
        Assert.Equal(DenseF32 + 64 * 4, WeightTraffic.DenseStepBytes(Stories260K with { TiedEmbeddings = false }, DType.F32));
        // Qwen2 biases (q 64 + k 32 + v 32 f32 per layer) and Gemma 2 post-norms (2·64 f32 per layer).
        Assert.Equal(DenseF32 + 5 * 128 * 4, WeightTraffic.DenseStepBytes(Stories260K with { QkvBias = true }, DType.F32));
        Assert.Equal(DenseF32 + 5 * 128 * 4, WeightTraffic.DenseStepBytes(Stories260K with { PostNorms = true }, DType.F32));
    }

    [Fact]
    public void GriffinReadsTheKeptRowsOfItsLayers()
    {
        // First half = layers 0 and 1; k = 86 of 172: 3·86·64 = 16512 of 33024 FFN elements per layer.
        var griffin = SparsityOptions.Default(SparsityMethod.Griffin, 0.5, Stories260K.Layers);
        Assert.Equal(DenseF32 - 2 * 16512 * 4, WeightTraffic.SparseStepBytes(Stories260K, DType.F32, griffin, adapterRank: 0)); // 908,032
        // Rank 8 adapters: Lᵀ and R, 2·64·8 = 1024 elements per sparsified layer.
        Assert.Equal(DenseF32 - 2 * 16512 * 4 + 2 * 1024 * 4, WeightTraffic.SparseStepBytes(Stories260K, DType.F32, griffin, adapterRank: 8));
        // Sparsity 0.3 keeps round(120.4) = 120 neurons: 3·(172 − 120)·64 = 9984 fewer elements per layer, in f16.
        var lighter = griffin with { Sparsity = 0.3 };
        Assert.Equal(DenseF16 - 2 * 9984 * 2, WeightTraffic.SparseStepBytes(Stories260K, DType.F16, lighter, adapterRank: 0));
    }

    [Fact]
    public void CatsReadsTheWholeGateAndTheActiveUpAndDownRows()
    {
        // All 5 layers; gate 172·64 = 11008 plus up and down 2·86·64 = 11008: 22016 instead of 33024 elements.
        var cats = SparsityOptions.Default(SparsityMethod.Cats, 0.5, Stories260K.Layers);
        Assert.Equal(DenseF32 - 5 * 11008 * 4, WeightTraffic.SparseStepBytes(Stories260K, DType.F32, cats, adapterRank: 0)); // 819,968
        var twoLayers = cats with { FirstLayer = 3, LayerCount = 2 };
        Assert.Equal(DenseF32 - 2 * 11008 * 4 + 2 * 2048 * 4, WeightTraffic.SparseStepBytes(Stories260K, DType.F32, twoLayers, adapterRank: 16));
    }

    [Fact]
    public void DenseAndTealStepsReadEverything()
    {
        Assert.Equal(DenseF32, WeightTraffic.SparseStepBytes(Stories260K, DType.F32, SparsityOptions.Dense, 0));
        Assert.Equal(DenseF32, WeightTraffic.SparseStepBytes(Stories260K, DType.F32, new SparsityOptions(SparsityMethod.Teal, 0.5), 0));
        Assert.Equal(DenseF32, WeightTraffic.SparseStepBytes(Stories260K, DType.F32, new SparsityOptions(SparsityMethod.Griffin, 0), 0));
    }

    [Theory]
    [InlineData(ModelFamily.Llama, DType.F32)]
    [InlineData(ModelFamily.Qwen2, DType.BF16)]
    [InlineData(ModelFamily.Gemma2, DType.F16)]
    public void DenseStepMatchesTheUploadedWeightsRoofline(ModelFamily family, DType dtype)
    {
        // The model's own count (ModelWeights.BytesReadPerToken, from the uploaded buffers) for every family quirk.
        var config = ModelPresets.Tiny(family);
        using var context = CapreseContext.Create(BackendKind.Cpu);
        using var weights = ModelWeights.Upload(context, new SyntheticWeightSource(config, seed: 3), config, dtype,
            cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(weights.BytesReadPerToken, WeightTraffic.DenseStepBytes(config, dtype));
    }

    [Fact]
    public void EffectiveDensityIsBytesReadOverDenseDecode()
    {
        // 16 tokens from 12 draft steps at 0.6 of dense plus 4 dense passes: (12·600 + 4·1000) / (16·1000) = 0.7.
        Assert.Equal(0.7, WeightTraffic.EffectiveDensity(12, 600, 4, 1000, 16), 1e-12);
        Assert.Equal(1.0, WeightTraffic.EffectiveDensity(0, 0, 100, DenseF32, 100));
        // Sirius-like: 15 sparse steps (GRIFFIN f32 above) and one correction pass per 16 tokens.
        long sparse = WeightTraffic.SparseStepBytes(Stories260K, DType.F32,
            SparsityOptions.Default(SparsityMethod.Griffin, 0.5, Stories260K.Layers), 0);
        Assert.Equal((15.0 * 908_032 + DenseF32) / (16.0 * DenseF32), WeightTraffic.EffectiveDensity(15, sparse, 1, DenseF32, 16), 1e-12);
    }

    [Fact]
    public void DraftVerifyBytesPerTokenSpreadsARoundOverItsTokens()
    {
        // γ = 8 drafts at 600 bytes and one 1000-byte dense pass per round, 4 tokens per round: 5800 / 4 = 1450 bytes.
        Assert.Equal(1450.0, WeightTraffic.DraftVerifyBytesPerToken(600, 1000, 8, 4.0), 1e-9);
        // Every draft kept (E = γ + 1) with a free draft: one dense pass per γ + 1 tokens.
        Assert.Equal(1000.0 / 5, WeightTraffic.DraftVerifyBytesPerToken(0, 1000, 4, 5.0), 1e-9);
        // Integer E agrees with EffectiveDensity's counts (12 drafts, 4 dense passes, 16 tokens; per dense byte).
        Assert.Equal(WeightTraffic.EffectiveDensity(12, 600, 4, 1000, 16),
            WeightTraffic.DraftVerifyBytesPerToken(600, 1000, 3, 4.0) / 1000, 1e-12);
        Assert.Throws<ArgumentOutOfRangeException>(() => WeightTraffic.DraftVerifyBytesPerToken(600, 1000, 8, 9.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => WeightTraffic.DraftVerifyBytesPerToken(600, 1000, 8, 0.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => WeightTraffic.DraftVerifyBytesPerToken(600, 1000, 8, double.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => WeightTraffic.DraftVerifyBytesPerToken(600, 1000, 0, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => WeightTraffic.DraftVerifyBytesPerToken(600, 0, 8, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => WeightTraffic.DraftVerifyBytesPerToken(-1, 1000, 8, 1));
    }

    [Fact]
    public void InvalidArgumentsAndOverflowAreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => WeightTraffic.DenseStepBytes(Stories260K, DType.I32));
        Assert.Throws<ArgumentException>(() => WeightTraffic.DenseStepBytes(Stories260K with { KvHeads = 3 }, DType.F32));
        Assert.Throws<ArgumentException>(() => WeightTraffic.SparseStepBytes(Stories260K, DType.F32, new SparsityOptions(SparsityMethod.Teal, 0.5), 8));
        Assert.Throws<ArgumentException>(() => WeightTraffic.SparseStepBytes(Stories260K, DType.F32, SparsityOptions.Dense, 8));
        Assert.Throws<ArgumentOutOfRangeException>(() => WeightTraffic.SparseStepBytes(Stories260K, DType.F32, new SparsityOptions(SparsityMethod.Cats, 0.5, FirstLayer: 5), 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => WeightTraffic.SparseStepBytes(Stories260K, DType.F32, new SparsityOptions(SparsityMethod.Cats, 0.5), -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => WeightTraffic.EffectiveDensity(1, 1, 1, 0, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => WeightTraffic.EffectiveDensity(1, 1, 1, 1, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => WeightTraffic.EffectiveDensity(-1, 1, 1, 1, 1));
        Assert.Throws<OverflowException>(() => WeightTraffic.EffectiveDensity(long.MaxValue / 2, 3, 0, 1, 1));
        Assert.Throws<OverflowException>(() => WeightTraffic.DenseStepBytes(Stories260K with { Dim = int.MaxValue / 2 * 2, Heads = 1, KvHeads = 1, HeadDim = 1 << 30, Vocab = int.MaxValue }, DType.F32));
    }
}
