using System.Globalization;
using Caprese.Models;
using Caprese.Models.Adapters;
using Caprese.Models.Sparsity;

namespace Caprese.Cli.Training;

/// <summary>Dense vs sparse vs sparse + Caprese on held-out dense continuations, and how much of the gap the adapters recover.</summary>
internal sealed record RecoveryReport(SparsityQuality Sparse, SparsityQuality Caprese)
{
    // Fixed prompts (not in any training corpus: that one is sampled), so figures from different runs compare.
    public static readonly string[] Prompts =
    [
        "Once upon a time", "One day, a little girl", "The dog was", "Tom and his mom went to",
        "There was a big tree", "Lily wanted to", "The sun was shining and", "A little bird",
    ];

    /// <summary>Fraction of the KL gap to dense (0 for dense) closed by the adapters.</summary>
    public double KlRecovered => Sparse.MeanKl > 0 ? (Sparse.MeanKl - Caprese.MeanKl) / Sparse.MeanKl : double.NaN;

    /// <summary>Fraction of the top-1 agreement gap (1 for dense) closed by the adapters.</summary>
    public double Top1Recovered => Sparse.Top1Agreement < 1 ? (Caprese.Top1Agreement - Sparse.Top1Agreement) / (1 - Sparse.Top1Agreement) : double.NaN;

    public static QualityEvaluator Evaluator(LoadedModel model, int tokens, int prompts = 8) =>
        new(model.Model, Prompts.Take(prompts).Select(p => model.Tokenizer.Encode(p, addBos: true)).ToList(), tokens);

    public static RecoveryReport Measure(QualityEvaluator evaluator, SparsityOptions sparsity, AdapterSet adapters) =>
        new(evaluator.Evaluate(sparsity), evaluator.Evaluate(sparsity, adapters, AdapterForm.Merged));

    public IEnumerable<string> Lines()
    {
        yield return "              KL(dense||x)  top-1 agree  greedy agree";
        yield return "dense               0.0000       100.0%        100.0%";
        yield return Row("sparse", Sparse);
        yield return Row("sparse+caprese", Caprese);
        yield return string.Create(CultureInfo.InvariantCulture,
            $"recovered: {KlRecovered * 100:F1}% of the KL gap, {Top1Recovered * 100:F1}% of the top-1 gap ({Sparse.Positions} held-out positions)");
    }

    private static string Row(string name, SparsityQuality q) => string.Create(CultureInfo.InvariantCulture,
        $"{name,-14} {q.MeanKl,11:F4}  {q.Top1Agreement * 100,10:F1}%  {q.GreedyAgreement * 100,11:F1}%");
}
