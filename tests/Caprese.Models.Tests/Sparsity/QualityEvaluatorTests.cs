using Caprese.Models.Sparsity;
using Caprese.Models.Tests.Support;

namespace Caprese.Models.Tests.Sparsity;

public sealed class QualityEvaluatorTests
{
    [Fact]
    public void KlDivergenceMatchesTheDefinition()
    {
        float[] p = [1f, 2f, 0.5f], q = [0.2f, 1f, 1.5f];
        double[] sp = Softmax(p), sq = Softmax(q);
        double expected = sp.Zip(sq).Sum(t => t.First * Math.Log(t.First / t.Second));
        Assert.Equal(expected, QualityEvaluator.KlDivergence(p, q), 1e-12);
        Assert.Equal(0, QualityEvaluator.KlDivergence(p, p), 1e-15);
    }

    [Fact]
    public void ZeroSparsityScoresAsDenseAndHalfSparsityDoesNot()
    {
        using var loaded = StoriesModel.LoadStories();
        var prompts = new[] { "Once upon a time", "The dog was" }.Select(p => loaded.Tokenizer.Encode(p, addBos: true)).ToList();
        var evaluator = new QualityEvaluator(loaded.Model, prompts, 12);

        var zero = evaluator.Evaluate(new SparsityOptions(SparsityMethod.Cats, 0));
        Assert.Equal(22, zero.Positions); // 2 prompts x 11 decode steps
        Assert.True(zero.MeanKl < 1e-9, $"KL {zero.MeanKl}");
        Assert.Equal(1.0, zero.Top1Agreement);
        Assert.Equal(1.0, zero.GreedyAgreement);

        var half = evaluator.Evaluate(SparsityOptions.Default(SparsityMethod.Griffin, 0.5, loaded.Config.Layers));
        Assert.True(half.MeanKl > 1e-3, $"KL {half.MeanKl}");
        Assert.Equal(SparsityMethod.None, loaded.Model.Sparsity.Method); // the model's own setting is restored
    }

    private static double[] Softmax(float[] x)
    {
        var e = x.Select(v => Math.Exp(v)).ToArray();
        return [.. e.Select(v => v / e.Sum())];
    }
}
