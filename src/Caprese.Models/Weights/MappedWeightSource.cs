using Caprese.Models.Formats;

namespace Caprese.Models.Weights;

/// <summary>Weights in a memory-mapped GGUF or safetensors checkpoint, found through a naming scheme.</summary>
internal sealed class MappedWeightSource(string sourcePath, Func<WeightId, string> nameOf, Func<string, MappedTensor?> lookup) : IWeightSource
{
    public string SourcePath => sourcePath;

    public string NameOf(WeightId id) => nameOf(id);

    public IWeightTensor? Find(WeightId id) => lookup(nameOf(id)) is { } t ? new Tensor(t) : null;

    private sealed class Tensor(MappedTensor t) : IStoredWeightTensor
    {
        public StoredTensorData? Stored => t.Stored;
        public string Name => t.Name;
        public string FilePath => t.FilePath;
        public IReadOnlyList<long> Shape => t.Shape;
        public void Read(long firstElement, Span<float> destination) => t.DequantizeRange(firstElement, destination);
    }
}
