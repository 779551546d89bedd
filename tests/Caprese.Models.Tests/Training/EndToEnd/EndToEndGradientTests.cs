using Caprese.Models.Sparsity;
using Caprese.Models.Tests.Support;
using Caprese.Models.Training.EndToEnd;
using Caprese.Models.Transformer;

namespace Caprese.Models.Tests.Training.EndToEnd;

/// <summary>
/// Adapter gradients of <see cref="EndToEndGraph"/> on <see cref="HostTrainingOps"/> against central finite differences
/// of its own loss (masks pinned, so the loss is smooth in the adapters).
/// <para>
/// Tolerances (host and native ops alike). Both store activations in f32, so the loss carries a relative rounding noise
/// of ~1e-7; a central difference with step h has noise ~1e-7·loss/h plus an O(h²) truncation. Along the normalised
/// gradient (derivative |g|, h = 3e-3) the measured relative error is ≤ 1.3e-4 (stories260K, |g| = 5.1), allowed 1e-3.
/// Along a random unit direction (h = 1e-2) the derivative can be 100× smaller than the loss (Gemma 2 CATS: 3.4e-4
/// against 2.9e-2), so noise reaches ~1e-3 (measured ≤ 9.2e-4), allowed 5e-3. Single entries (the largest |g| of each
/// tensor, h = 1e-2) are compared against the largest gradient entry of the same tensor: measured ≤ 2.7e-4, allowed 1e-2.
/// Dropping a term (the adapter's own path into dxn2, the attention path, the mask) moves these by tens of percent.
/// </para>
/// </summary>
public sealed class EndToEndGradientTests
{
    public static TheoryData<ModelFamily, SparsityMethod, string> Cases()
    {
        var data = new TheoryData<ModelFamily, SparsityMethod, string>();
        foreach (string ops in new[] { "host", "native" })
        {
            data.Add(ModelFamily.Llama, SparsityMethod.Griffin, ops);
            data.Add(ModelFamily.Llama, SparsityMethod.Cats, ops);
            data.Add(ModelFamily.Qwen2, SparsityMethod.Griffin, ops);
            data.Add(ModelFamily.Gemma2, SparsityMethod.Cats, ops);
            data.Add(ModelFamily.Gemma2, SparsityMethod.Griffin, ops);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void SyntheticGradientsMatchFiniteDifferences(ModelFamily family, SparsityMethod method, string opsKind)
    {
        var config = ModelPresets.Tiny(family);
        using var loaded = SyntheticModel.Create(config, seed: 21, cancellationToken: TestContext.Current.CancellationToken);
        // Every layer sparsified at 50%; for Gemma 2 the sequence (12) is longer than its window (5).
        var sparsity = new SparsityOptions(method, 0.5);
        var adapters = EndToEndTestData.RandomAdapters(config, sparsity, rank: 4, seed: 5);
        using var ops = EndToEndTestData.Ops(opsKind, loaded);
        using var graph = new EndToEndGraph(ops, loaded.Context, loaded.Model.Weights, sparsity, adapters.Rank, maxTokens: 16);
        graph.LoadAdapters(adapters);
        var sequence = EndToEndTestData.Random(config, promptLength: 5, length: 12, seed: 3);
        Check(graph, adapters, sequence, entryCount: 4);
    }

    [Theory]
    [InlineData("host")]
    [InlineData("native")]
    public void StoriesGradientsMatchFiniteDifferences(string opsKind)
    {
        using var loaded = StoriesModel.LoadStories();
        var config = loaded.Config;
        var sparsity = SparsityOptions.Default(SparsityMethod.Griffin, 0.5, config.Layers); // layers 0, 1 of 5
        var adapters = EndToEndTestData.RandomAdapters(config, sparsity, rank: 4, seed: 9);
        using var ops = EndToEndTestData.Ops(opsKind, loaded);
        using var graph = new EndToEndGraph(ops, loaded.Context, loaded.Model.Weights, sparsity, adapters.Rank, maxTokens: 32);
        graph.LoadAdapters(adapters);
        var sequence = EndToEndTestData.Sampled(loaded, 1, promptLength: 8, length: 24, seed: 4)[0];
        Check(graph, adapters, sequence, entryCount: 3);
    }

    [Fact]
    public void GradientsAccumulateWithTheirScale()
    {
        var config = ModelPresets.Tiny(ModelFamily.Llama);
        using var loaded = SyntheticModel.Create(config, seed: 2, cancellationToken: TestContext.Current.CancellationToken);
        var sparsity = new SparsityOptions(SparsityMethod.Griffin, 0.5);
        var adapters = EndToEndTestData.RandomAdapters(config, sparsity, rank: 3, seed: 1);
        using var ops = new HostTrainingOps();
        using var graph = new EndToEndGraph(ops, loaded.Context, loaded.Model.Weights, sparsity, adapters.Rank, maxTokens: 16);
        graph.LoadAdapters(adapters);
        var a = EndToEndTestData.Random(config, 4, 10, seed: 1);
        var b = EndToEndTestData.Random(config, 6, 9, seed: 2);
        var ga = EndToEndTestData.Gradients(graph, a, graph.ComputeMasks(a));
        var gb = EndToEndTestData.Gradients(graph, b, graph.ComputeMasks(b));
        graph.ZeroGradients();
        graph.AccumulateGradients(a, 0.25f);
        graph.AccumulateGradients(b, 0.75f);
        var (l, r) = graph.DownloadGradients(0);
        for (int i = 0; i < l.Length; i++)
            Assert.Equal(0.25 * ga[0].L[i] + 0.75 * gb[0].L[i], l[i], 1e-6 + 1e-5 * Math.Abs(l[i]));
        for (int i = 0; i < r.Length; i++)
            Assert.Equal(0.25 * ga[0].R[i] + 0.75 * gb[0].R[i], r[i], 1e-6 + 1e-5 * Math.Abs(r[i]));
    }

    private static void Check(EndToEndGraph graph, Caprese.Models.Adapters.AdapterSet adapters, EndToEndSequence sequence, int entryCount)
    {
        var output = TestContext.Current.TestOutputHelper;
        var masks = EndToEndTestData.PinnedMasks(graph, sequence);
        double loss = graph.Loss(sequence, masks);
        Assert.True(loss > 1e-6, $"loss {loss}: the sparse model should differ from the dense one");
        var grads = EndToEndTestData.Gradients(graph, sequence, masks);

        // Along the gradient itself (the largest signal: the derivative is |g|) and along a random unit direction.
        double norm = Math.Sqrt(EndToEndTestData.Dot(grads, grads));
        var along = grads.ToDictionary(p => p.Key, p => (L: p.Value.L.Select(v => (float)(v / norm)).ToArray(), R: p.Value.R.Select(v => (float)(v / norm)).ToArray()));
        foreach (var (name, direction, h, tolerance) in new[] { ("gradient", along, 3e-3, 1e-3), ("random", EndToEndTestData.RandomDirection(adapters, seed: 17), 1e-2, 5e-3) })
        {
            double analytic = EndToEndTestData.Dot(grads, direction);
            double fd = EndToEndTestData.DirectionalDifference(graph, adapters, sequence, masks, direction, h);
            double rel = Math.Abs(analytic - fd) / Math.Abs(fd);
            output?.WriteLine($"loss {loss:E4}; along the {name} direction: analytic {analytic:E6}, fd {fd:E6}, rel err {rel:E2}");
            Assert.True(rel <= tolerance, $"{name} direction: analytic {analytic}, finite difference {fd} (rel {rel:E2})");
        }

        double worst = 0;
        foreach (var (layer, (gl, gr)) in grads)
        {
            foreach (var (g, inR) in new[] { (gl, false), (gr, true) })
            {
                double scale = g.Max(v => Math.Abs(v));
                Assert.True(scale > 0, $"layer {layer} {(inR ? "R" : "L")} gradient is all zero");
                foreach (int i in EndToEndTestData.Largest(g, entryCount))
                {
                    double e = EndToEndTestData.EntryDifference(graph, adapters, sequence, masks, layer, inR, i, 1e-2f);
                    double err = Math.Abs(e - g[i]) / scale;
                    worst = Math.Max(worst, err);
                    Assert.True(err <= 1e-2, $"layer {layer} {(inR ? "R" : "L")}[{i}]: analytic {g[i]}, finite difference {e} (err {err:E2} of max {scale:E2})");
                }
            }
        }
        output?.WriteLine($"entries: worst error {worst:E2} of the tensor's max |g|");
    }
}
