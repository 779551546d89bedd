using Caprese.Interop;
using Caprese.Models.Sparsity;
using Caprese.Models.Tests.Support;
using Caprese.Models.Training.EndToEnd;
using Caprese.Models.Transformer;

namespace Caprese.Models.Tests.Training.EndToEnd;

/// <summary>
/// <see cref="NativeTrainingOps"/> (CPU backend, and CUDA where available) against <see cref="HostTrainingOps"/> on the same
/// graph, sequence and masks: the loss and every adapter gradient.
/// <para>
/// Tolerance: both are f32 computations of the same formulas; the host accumulates in double, the native kernels in f32
/// (CPU row reductions in double), so they differ by rounding only. Measured: loss ≤ 2e-6 relative, gradients ≤ 3e-5 of
/// the tensor's largest |g| (CPU). Allowed 1e-4 / 1e-3; a wrong op (e.g. a transposed weight, a missing mask) is ≥ 1e-2.
/// </para>
/// </summary>
public sealed class EndToEndNativeTests
{
    private const double LossTolerance = 1e-4;
    private const double GradientTolerance = 1e-3;

    public static TheoryData<ModelFamily, SparsityMethod> Cases => new()
    {
        { ModelFamily.Llama, SparsityMethod.Griffin },
        { ModelFamily.Llama, SparsityMethod.Cats },
        { ModelFamily.Qwen2, SparsityMethod.Cats },
        { ModelFamily.Gemma2, SparsityMethod.Griffin },
        { ModelFamily.Gemma2, SparsityMethod.Cats },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void SyntheticNativeGradientsEqualHostGradients(ModelFamily family, SparsityMethod method)
    {
        var config = ModelPresets.Tiny(family);
        using var loaded = SyntheticModel.Create(config, seed: 23, cancellationToken: TestContext.Current.CancellationToken);
        Compare(loaded, new SparsityOptions(method, 0.5), EndToEndTestData.Random(config, promptLength: 5, length: 14, seed: 6), $"{family} {method}");
    }

    [Theory]
    [InlineData(BackendKind.Cpu, SparsityMethod.Griffin)]
    [InlineData(BackendKind.Cpu, SparsityMethod.Cats)]
    [InlineData(BackendKind.Cuda, SparsityMethod.Griffin)]
    [InlineData(BackendKind.Cuda, SparsityMethod.Cats)]
    public void StoriesNativeGradientsEqualHostGradients(BackendKind backend, SparsityMethod method)
    {
        using var loaded = StoriesModel.LoadStories(backend); // skips when the backend is unavailable
        var sequence = EndToEndTestData.Sampled(loaded, 1, promptLength: 16, length: 64, seed: 9)[0];
        Compare(loaded, SparsityOptions.Default(method, 0.5, loaded.Config.Layers), sequence, $"stories260K {backend} {method}");
    }

    private static void Compare(LoadedModel loaded, SparsityOptions sparsity, EndToEndSequence sequence, string what)
    {
        var adapters = EndToEndTestData.RandomAdapters(loaded.Config, sparsity, rank: 4, seed: 2);
        using var host = new HostTrainingOps();
        using var native = new NativeTrainingOps(loaded.Context);
        using var hostGraph = new EndToEndGraph(host, loaded.Context, loaded.Model.Weights, sparsity, adapters.Rank, sequence.Length);
        using var nativeGraph = new EndToEndGraph(native, loaded.Context, loaded.Model.Weights, sparsity, adapters.Rank, sequence.Length);
        hostGraph.LoadAdapters(adapters);
        nativeGraph.LoadAdapters(adapters);
        // Masks from the host graph, CATS rows pinned, so a near-threshold entry cannot flip between the two.
        var masks = EndToEndTestData.PinnedMasks(hostGraph, sequence);
        var nativeMasks = nativeGraph.ComputeMasks(sequence);
        for (int l = hostGraph.FirstLayer; l < hostGraph.EndLayer; l++)
            if (sparsity.Method == SparsityMethod.Griffin)
                Assert.Equal(masks.Kept[l], nativeMasks.Kept[l]);
            else
                Assert.Equal(masks.Thresholds[l], nativeMasks.Thresholds[l], 1e-5f);

        var expected = EndToEndTestData.Gradients(hostGraph, sequence, masks);
        var actual = EndToEndTestData.Gradients(nativeGraph, sequence, masks);
        double hostLoss = hostGraph.Loss(sequence, masks), nativeLoss = nativeGraph.Loss(sequence, masks);
        var output = TestContext.Current.TestOutputHelper;
        double lossErr = Math.Abs(hostLoss - nativeLoss) / hostLoss;
        output?.WriteLine($"{what}: loss host {hostLoss:E6} native {nativeLoss:E6} (rel {lossErr:E2})");
        Assert.True(lossErr <= LossTolerance, $"{what}: loss host {hostLoss} native {nativeLoss}");
        double worst = 0;
        foreach (var (layer, (l, r)) in expected)
            foreach (var (name, e, a) in new[] { ("L", l, actual[layer].L), ("R", r, actual[layer].R) })
            {
                double scale = e.Max(Math.Abs);
                double err = e.Zip(a).Max(p => Math.Abs(p.First - p.Second)) / scale;
                worst = Math.Max(worst, err);
                Assert.True(err <= GradientTolerance, $"{what}: layer {layer} d{name} max |Δ| {err:E2} of max |g| {scale:E2}");
            }
        output?.WriteLine($"{what}: gradients max |Δ| {worst:E2} of the tensor's max |g|");
    }
}
