using Caprese.Models.Transformer;

namespace Caprese.Models.Weights;

/// <summary>f32 arrays keyed by Hugging Face tensor name (flattened row-major); shapes come from the config.</summary>
public sealed class DictionaryWeightSource : IWeightSource
{
    private readonly IReadOnlyDictionary<string, float[]> _weights;
    private readonly ModelConfig _config;
    private readonly Dictionary<WeightId, long[]> _shapes;

    public DictionaryWeightSource(ModelConfig config, IReadOnlyDictionary<string, float[]> weights, string sourcePath = "in-memory weights")
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(weights);
        _config = config;
        _weights = weights;
        _shapes = WeightLayout.Required(config).ToDictionary(s => s.Id, s => s.Shape);
        SourcePath = sourcePath;
    }

    public string SourcePath { get; }

    public string NameOf(WeightId id) => HfWeightNames.Of(id, _config);

    public IWeightTensor? Find(WeightId id)
    {
        string name = NameOf(id);
        if (!_weights.TryGetValue(name, out var data))
            return null;
        // An array of the wrong length is reported as a shape the config does not expect.
        long[] shape = _shapes.TryGetValue(id, out var s) && s.Aggregate(1L, (a, b) => a * b) == data.Length ? s : [data.Length];
        return new Tensor(name, SourcePath, shape, data);
    }

    private sealed class Tensor(string name, string filePath, long[] shape, float[] data) : IWeightTensor
    {
        public string Name => name;
        public string FilePath => filePath;
        public IReadOnlyList<long> Shape => shape;
        public void Read(long firstElement, Span<float> destination) => data.AsSpan(checked((int)firstElement), destination.Length).CopyTo(destination);
    }
}
