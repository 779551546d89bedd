using Caprese.Models.Adapters;
using Caprese.Models.Sparsity;
using Caprese.Models.Tests.Support;

namespace Caprese.Models.Tests.Adapters;

/// <summary>Decode of stories260K with adapters: merged against unmerged, R = 0 against plain sparse decode.</summary>
public sealed class AdapterDecodeTests
{
    private const int Steps = 16;
    private const int Rank = 8;

    public static TheoryData<SparsityMethod, GriffinPath> Methods => new()
    {
        { SparsityMethod.Griffin, GriffinPath.Gather },
        { SparsityMethod.Griffin, GriffinPath.Compact },
        { SparsityMethod.Cats, GriffinPath.Auto },
    };

    [Theory]
    [MemberData(nameof(Methods))]
    public void MergedAndUnmergedGiveTheSameLogits(SparsityMethod method, GriffinPath path)
    {
        using var loaded = StoriesModel.LoadStories();
        var sparsity = Sparsity(loaded, method, path);
        var adapters = TestAdapters.Random(loaded.Config, sparsity, Rank, seed: 3);
        var tokens = DenseGreedy(loaded);

        var plain = TeacherForced(loaded, sparsity, null, AdapterForm.Merged, tokens);
        var merged = TeacherForced(loaded, sparsity, adapters, AdapterForm.Merged, tokens);
        var unmerged = TeacherForced(loaded, sparsity, adapters, AdapterForm.Unmerged, tokens);

        Assert.True(MaxDiff(plain, merged) > 0.05f, $"the adapters barely change the logits ({MaxDiff(plain, merged)})");
        // Same products, summed in another order (extra neurons inside the kernel's parts vs two matmuls and an add).
        // Measured 5.7e-6 on the CPU backend (logits up to ~20); 1e-4 leaves room for other backends.
        float diff = MaxDiff(merged, unmerged);
        Assert.True(diff <= 1e-4f, $"max |Δlogit| merged vs unmerged {diff}");
        // The prefill (first entry) is dense either way.
        Assert.Equal(plain[0], merged[0]);
        Assert.Equal(plain[0], unmerged[0]);
    }

    [Theory]
    [InlineData(SparsityMethod.Griffin)]
    [InlineData(SparsityMethod.Cats)]
    public void MergedAndUnmergedAgreeOnCudaWithBf16Weights(SparsityMethod method)
    {
        // The CUDA kernels: a GPU, else the CUDA simulator. Both forms use the same bf16-rounded factors and accumulate
        // in f32, so they differ by summation order only: measured 8.0e-6 (CATS) and 8.1e-6 (GRIFFIN) on the simulator;
        // a GPU's fast-math intrinsics are not the simulator's host functions and no GPU has run it yet, hence the loose bound.
        using var loaded = StoriesModel.LoadStories(Interop.BackendKind.Cuda, Interop.DType.BF16);
        var sparsity = Sparsity(loaded, method, GriffinPath.Auto);
        var adapters = TestAdapters.Random(loaded.Config, sparsity, Rank, seed: 3);
        var tokens = DenseGreedy(loaded);
        var merged = TeacherForced(loaded, sparsity, adapters, AdapterForm.Merged, tokens);
        var unmerged = TeacherForced(loaded, sparsity, adapters, AdapterForm.Unmerged, tokens);
        float diff = MaxDiff(merged, unmerged);
        TestContext.Current.TestOutputHelper?.WriteLine($"{loaded.Backend} {method}: max |Δlogit| {diff}");
        Assert.True(diff <= 5e-2f, $"max |Δlogit| {diff}");
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void ZeroRReproducesThePlainSparseLogits(SparsityMethod method, GriffinPath path)
    {
        using var loaded = StoriesModel.LoadStories();
        var sparsity = Sparsity(loaded, method, path);
        var zeroR = TestAdapters.Random(loaded.Config, sparsity, Rank, seed: 5, rScale: 0);
        var tokens = DenseGreedy(loaded);

        var plain = TeacherForced(loaded, sparsity, null, AdapterForm.Merged, tokens);
        // Unmerged adds (x·L)·0 = +0 to every output: bit-exact.
        Assert.Equal(0f, MaxDiff(plain, TeacherForced(loaded, sparsity, zeroR, AdapterForm.Unmerged, tokens)));
        // Merged adds r zero-output neurons to the kernel's item list, which moves its fixed part boundaries and so the
        // summation order of the real neurons: equal to rounding (measured 1.6e-5 GRIFFIN, 6.2e-6 CATS on the CPU backend).
        float merged = MaxDiff(plain, TeacherForced(loaded, sparsity, zeroR, AdapterForm.Merged, tokens));
        Assert.True(merged <= 5e-5f, $"max |Δlogit| {merged}");
    }

    [Fact]
    public void ReselectionStepsAndPrefillRunWithoutAdapters()
    {
        // ρ = 1: every decode step runs the sparsified FFNs densely, so adapters never apply.
        using var loaded = StoriesModel.LoadStories();
        var tokens = DenseGreedy(loaded);
        var dense = TeacherForced(loaded, null, null, AdapterForm.Merged, tokens);
        var rho1 = new SparsityOptions(SparsityMethod.Griffin, 0.5, 0, 2, GriffinReselectEvery: 1);
        var adapters = TestAdapters.Random(loaded.Config, rho1, Rank, seed: 9);
        Assert.Equal(0f, MaxDiff(dense, TeacherForced(loaded, rho1, adapters, AdapterForm.Merged, tokens)));
    }

    private static SparsityOptions Sparsity(LoadedModel loaded, SparsityMethod method, GriffinPath path) =>
        SparsityOptions.Default(method, 0.5, loaded.Config.Layers) with { GriffinPath = path };

    private static int[] Prompt(LoadedModel loaded) => loaded.Tokenizer.Encode("Once upon a time", addBos: true);

    private static int[] DenseGreedy(LoadedModel loaded)
    {
        var model = loaded.Model;
        model.SetSparsity(null);
        var prompt = Prompt(loaded);
        var ids = new int[Steps];
        ids[0] = model.PrefillArgmax(prompt, 0);
        for (int i = 1; i < Steps; i++)
            ids[i] = model.DecodeStepArgmax(ids[i - 1], prompt.Length + i - 1);
        return ids;
    }

    // The prefill's logits, then those of Steps decode steps fed `tokens`.
    private static List<float[]> TeacherForced(LoadedModel loaded, SparsityOptions? sparsity, AdapterSet? adapters, AdapterForm form, int[] tokens)
    {
        var model = loaded.Model;
        model.SetSparsity(sparsity);
        model.SetAdapters(adapters, form);
        var prompt = Prompt(loaded);
        var all = new List<float[]> { model.Prefill(prompt, 0) };
        for (int i = 0; i < Steps; i++)
            all.Add(model.DecodeStep(tokens[i], prompt.Length + i));
        return all;
    }

    private static float MaxDiff(List<float[]> a, List<float[]> b) =>
        a.Zip(b).Max(p => p.First.Zip(p.Second).Max(q => Math.Abs(q.First - q.Second)));
}
