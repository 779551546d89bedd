namespace Caprese.Models.Weights;

/// <summary>What a weight tensor does in the transformer, independent of any file format's naming.</summary>
public enum WeightRole
{
    TokenEmbedding,
    AttentionNorm,
    QueryWeight,
    QueryBias,
    KeyWeight,
    KeyBias,
    ValueWeight,
    ValueBias,
    OutputProjection,
    /// <summary>Gemma 2's norm of the attention output, before the residual add.</summary>
    PostAttentionNorm,
    FfnNorm,
    GateWeight,
    UpWeight,
    DownWeight,
    /// <summary>Gemma 2's norm of the FFN output, before the residual add.</summary>
    PostFfnNorm,
    FinalNorm,
    /// <summary>The output projection to logits (absent when tied to the embedding).</summary>
    Classifier,
}

/// <summary>One weight tensor: its role and layer (-1 for tensors outside the layers).</summary>
public readonly record struct WeightId(WeightRole Role, int Layer = -1)
{
    public bool IsMatrix => Role is WeightRole.TokenEmbedding or WeightRole.Classifier or WeightRole.QueryWeight or WeightRole.KeyWeight
        or WeightRole.ValueWeight or WeightRole.OutputProjection or WeightRole.GateWeight or WeightRole.UpWeight or WeightRole.DownWeight;

    public bool IsNorm => Role is WeightRole.AttentionNorm or WeightRole.PostAttentionNorm or WeightRole.FfnNorm
        or WeightRole.PostFfnNorm or WeightRole.FinalNorm;

    public override string ToString() => Layer < 0 ? Role.ToString() : $"{Role}[{Layer}]";
}

/// <summary>A tensor a config requires, with the row-major shape it must have.</summary>
public sealed record WeightSpec(WeightId Id, long[] Shape)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => checked(a * b));
}
