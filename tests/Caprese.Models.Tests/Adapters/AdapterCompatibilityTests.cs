using Caprese.Models.Adapters;
using Caprese.Models.Sparsity;
using Caprese.Models.Tests.Support;
using Caprese.Models.Transformer;

namespace Caprese.Models.Tests.Adapters;

/// <summary>Adapters only decode with the sparsity they were trained for.</summary>
public sealed class AdapterCompatibilityTests
{
    private static readonly ModelConfig Config = ModelPresets.Tiny(ModelFamily.Llama);

    [Fact]
    public void AdaptersNeedTheirOwnSparsity()
    {
        using var loaded = SyntheticModel.Create(Config, seed: 1, cancellationToken: TestContext.Current.CancellationToken);
        var model = loaded.Model;
        var griffin = SparsityOptions.FirstHalf(SparsityMethod.Griffin, 0.5, Config.Layers);
        var adapters = TestAdapters.Random(Config, griffin, rank: 4, seed: 1);

        var none = Assert.Throws<ArgumentException>(() => model.SetAdapters(adapters));
        Assert.Contains("SetSparsity", none.Message);

        model.SetSparsity(griffin with { Sparsity = 0.25 });
        Assert.Contains("Griffin at 0.5", Assert.Throws<ArgumentException>(() => model.SetAdapters(adapters)).Message);
        model.SetSparsity(new SparsityOptions(SparsityMethod.Cats, 0.5, 0, griffin.LayerCount));
        Assert.Contains("Cats", Assert.Throws<ArgumentException>(() => model.SetAdapters(adapters)).Message);
        model.SetSparsity(new SparsityOptions(SparsityMethod.Griffin, 0.5));
        Assert.Contains("layers", Assert.Throws<ArgumentException>(() => model.SetAdapters(adapters)).Message);
        Assert.Null(model.Adapters);

        var otherDim = ModelPresets.Tiny(ModelFamily.Llama) with { Dim = Config.Dim * 2, HeadDim = Config.HeadDim * 2 };
        model.SetSparsity(griffin);
        var wide = TestAdapters.Random(otherDim, griffin, rank: 4, seed: 1);
        Assert.Contains("dimension", Assert.Throws<ArgumentException>(() => model.SetAdapters(wide)).Message);
    }

    [Fact]
    public void ChangingTheSparsityKeepsOrDropsTheAdapters()
    {
        using var loaded = SyntheticModel.Create(Config, seed: 2, cancellationToken: TestContext.Current.CancellationToken);
        var model = loaded.Model;
        var cats = new SparsityOptions(SparsityMethod.Cats, 0.4);
        var adapters = TestAdapters.Random(Config, cats, rank: 3, seed: 2);
        model.SetSparsity(cats);
        model.SetAdapters(adapters, AdapterForm.Unmerged);
        Assert.Same(adapters, model.Adapters);
        Assert.Same(adapters, model.SparseDecoder!.Adapters);

        // The same sparse FFN (ρ and path do not change it): kept, in the same form.
        model.SetSparsity(cats with { GriffinPath = GriffinPath.Compact });
        Assert.Same(adapters, model.Adapters);
        Assert.Equal(AdapterForm.Unmerged, model.SparseDecoder!.AdapterForm);

        // Another level: dropped.
        model.SetSparsity(cats with { Sparsity = 0.5 });
        Assert.Null(model.Adapters);
        Assert.Null(model.SparseDecoder!.Adapters);

        model.SetSparsity(cats);
        model.SetAdapters(adapters);
        model.SetSparsity(null);
        Assert.Null(model.Adapters);

        model.SetSparsity(cats);
        model.SetAdapters(adapters);
        model.SetAdapters(null);
        Assert.Null(model.SparseDecoder!.Adapters);
    }
}
