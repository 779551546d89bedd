using Caprese.Models.Transformer;

namespace Caprese.Models.Weights;

/// <summary>The tensors a <see cref="ModelConfig"/> needs and their shapes ([out, in] for matrices).</summary>
public static class WeightLayout
{
    public static IReadOnlyList<WeightSpec> Required(ModelConfig c)
    {
        ArgumentNullException.ThrowIfNull(c);
        var list = new List<WeightSpec>();
        void Add(WeightRole role, int layer, params long[] shape) => list.Add(new WeightSpec(new WeightId(role, layer), shape));

        Add(WeightRole.TokenEmbedding, -1, c.Vocab, c.Dim);
        for (int l = 0; l < c.Layers; l++)
        {
            Add(WeightRole.AttentionNorm, l, c.Dim);
            Add(WeightRole.QueryWeight, l, c.QueryDim, c.Dim);
            Add(WeightRole.KeyWeight, l, c.KvDim, c.Dim);
            Add(WeightRole.ValueWeight, l, c.KvDim, c.Dim);
            if (c.QkvBias)
            {
                Add(WeightRole.QueryBias, l, c.QueryDim);
                Add(WeightRole.KeyBias, l, c.KvDim);
                Add(WeightRole.ValueBias, l, c.KvDim);
            }
            Add(WeightRole.OutputProjection, l, c.Dim, c.QueryDim);
            if (c.PostNorms)
                Add(WeightRole.PostAttentionNorm, l, c.Dim);
            Add(WeightRole.FfnNorm, l, c.Dim);
            Add(WeightRole.GateWeight, l, c.HiddenDim, c.Dim);
            Add(WeightRole.UpWeight, l, c.HiddenDim, c.Dim);
            Add(WeightRole.DownWeight, l, c.Dim, c.HiddenDim);
            if (c.PostNorms)
                Add(WeightRole.PostFfnNorm, l, c.Dim);
        }
        Add(WeightRole.FinalNorm, -1, c.Dim);
        if (!c.TiedEmbeddings)
            Add(WeightRole.Classifier, -1, c.Vocab, c.Dim);
        return list;
    }
}
