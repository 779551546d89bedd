using Caprese.Models.Loading;

namespace Caprese.Models.Weights;

/// <summary>The tensors of a llama2.c checkpoint; per-layer weights are slices of its stacked tensors.</summary>
internal sealed class Llama2cWeightSource(Llama2cCheckpoint checkpoint) : IWeightSource
{
    public string SourcePath => checkpoint.FilePath;

    public string NameOf(WeightId id) => Stacked(id.Role) is { } n ? (id.Layer < 0 ? n : $"{n}[{id.Layer}]") : id.ToString();

    public IWeightTensor? Find(WeightId id)
    {
        if (Stacked(id.Role) is not { } name || !checkpoint.Contains(name))
            return null;
        var info = checkpoint.Info(name);
        bool perLayer = id.Layer >= 0;
        if (perLayer && (info.Shape.Length < 2 || id.Layer >= info.Shape[0]))
            return null;
        long[] shape = perLayer ? info.Shape[1..] : info.Shape;
        return new Tensor(NameOf(id), checkpoint, name, perLayer ? id.Layer : -1, shape);
    }

    private static string? Stacked(WeightRole role) => role switch
    {
        WeightRole.TokenEmbedding => TensorNames.TokenEmbedding,
        WeightRole.AttentionNorm => TensorNames.RmsAttention,
        WeightRole.QueryWeight => TensorNames.Wq,
        WeightRole.KeyWeight => TensorNames.Wk,
        WeightRole.ValueWeight => TensorNames.Wv,
        WeightRole.OutputProjection => TensorNames.Wo,
        WeightRole.FfnNorm => TensorNames.RmsFfn,
        WeightRole.GateWeight => TensorNames.W1Gate,
        WeightRole.DownWeight => TensorNames.W2Down,
        WeightRole.UpWeight => TensorNames.W3Up,
        WeightRole.FinalNorm => TensorNames.RmsFinal,
        WeightRole.Classifier => TensorNames.Classifier,
        _ => null,
    };

    private sealed class Tensor(string name, Llama2cCheckpoint checkpoint, string stacked, int layer, long[] shape) : IStoredWeightTensor
    {
        public StoredTensorData? Stored => checkpoint.StoredData(stacked, layer);
        public string Name => name;
        public string FilePath => checkpoint.FilePath;
        public IReadOnlyList<long> Shape => shape;

        public void Read(long firstElement, Span<float> destination)
        {
            var all = layer >= 0 ? checkpoint.Layer(stacked, layer) : checkpoint.Tensor(stacked);
            all.Slice(checked((int)firstElement), destination.Length).CopyTo(destination);
        }
    }
}
