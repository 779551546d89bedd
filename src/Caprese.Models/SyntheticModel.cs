using Caprese.Interop;
using Caprese.Models.Transformer;
using Caprese.Models.Weights;

namespace Caprese.Models;

/// <summary>
/// Models built in memory from a <see cref="ModelConfig"/>, with no file: seeded random weights
/// (tests, benchmarks at real shapes, see <see cref="ModelPresets"/>) or given f32 arrays in
/// Hugging Face naming (to compare against another implementation). They have no tokenizer.
/// </summary>
public static class SyntheticModel
{
    /// <summary>A model with seeded random weights stored as <paramref name="weightDType"/>.</summary>
    public static LoadedModel Create(ModelConfig config, int seed, DType weightDType = DType.F32, ModelLoadOptions? options = null,
        IProgress<float>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(config);
        options = (options ?? new ModelLoadOptions()) with { WeightType = weightDType };
        var source = new SyntheticWeightSource(config, seed);
        return ModelLoader.Assemble(source.SourcePath, null, config, source, null, options, cancellationToken, progress);
    }

    /// <summary>
    /// A model from f32 arrays keyed by Hugging Face tensor name (model.layers.0.self_attn.q_proj.weight, ...),
    /// each flattened row-major in the shape transformers uses. Missing or misshapen arrays throw
    /// <see cref="Loading.ModelFormatException"/> naming the tensor.
    /// </summary>
    public static LoadedModel FromWeights(ModelConfig config, IReadOnlyDictionary<string, float[]> weights, ModelLoadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        var source = new DictionaryWeightSource(config, weights);
        return ModelLoader.Assemble(source.SourcePath, null, config, source, null, options ?? new ModelLoadOptions(), default, null);
    }

    /// <summary>The seeded random weights of <see cref="Create"/> as f32 arrays in Hugging Face naming (small models only).</summary>
    public static Dictionary<string, float[]> RandomWeights(ModelConfig config, int seed) =>
        new SyntheticWeightSource(config, seed).ToDictionary();

    /// <summary>The Hugging Face names and shapes <paramref name="config"/> requires, in load order.</summary>
    public static IReadOnlyList<(string Name, long[] Shape)> WeightNames(ModelConfig config) =>
        WeightLayout.Required(config).Select(s => (HfWeightNames.Of(s.Id, config), s.Shape)).ToList();
}
