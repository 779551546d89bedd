namespace Caprese.Models.Training.Stage1;

/// <summary>
/// One sparsified layer's stage-1 regression data: FFN inputs X [Rows, Dim] (after the FFN norm, as the adapter sees
/// them) and targets T = FF(x) − FF̂(x) [Rows, Dim], both row-major f32.
/// </summary>
public sealed class LayerSamples
{
    public LayerSamples(int layer, int dim, float[] inputs, float[] targets)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(targets);
        ArgumentOutOfRangeException.ThrowIfLessThan(dim, 1);
        if (inputs.Length % dim != 0 || targets.Length != inputs.Length)
            throw new ArgumentException($"inputs ({inputs.Length}) and targets ({targets.Length}) must both be [rows, {dim}]");
        Layer = layer;
        Dim = dim;
        Inputs = inputs;
        Targets = targets;
    }

    public int Layer { get; }
    public int Dim { get; }
    public int Rows => Inputs.Length / Dim;
    public float[] Inputs { get; }
    public float[] Targets { get; }

    /// <summary>The rows [first, first + count) as a new set (e.g. a train / held-out cut).</summary>
    public LayerSamples Slice(int first, int count) =>
        new(Layer, Dim, Inputs.AsSpan(first * Dim, count * Dim).ToArray(), Targets.AsSpan(first * Dim, count * Dim).ToArray());
}

/// <summary>Stage-1 data of every sparsified layer, for the sparsity it was collected under.</summary>
public sealed class Stage1Dataset
{
    public Stage1Dataset(Sparsity.SparsityOptions sparsity, int modelLayers, IReadOnlyList<LayerSamples> layers)
    {
        ArgumentNullException.ThrowIfNull(sparsity);
        ArgumentNullException.ThrowIfNull(layers);
        Sparsity = sparsity;
        ModelLayers = modelLayers;
        Layers = layers;
    }

    public Sparsity.SparsityOptions Sparsity { get; }
    public int ModelLayers { get; }
    public IReadOnlyList<LayerSamples> Layers { get; }

    public LayerSamples ForLayer(int layer) =>
        Layers.FirstOrDefault(l => l.Layer == layer) ?? throw new ArgumentOutOfRangeException(nameof(layer), layer, "not a sparsified layer of this dataset");
}
