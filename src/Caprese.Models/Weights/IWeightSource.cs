namespace Caprese.Models.Weights;

/// <summary>One stored tensor, readable as f32 in pieces so a multi-GB tensor never needs a full copy.</summary>
public interface IWeightTensor
{
    /// <summary>The name in its file (for messages).</summary>
    string Name { get; }

    /// <summary>The file holding it (for messages).</summary>
    string FilePath { get; }

    /// <summary>Row-major shape.</summary>
    IReadOnlyList<long> Shape { get; }

    /// <summary>Elements [firstElement, firstElement + destination.Length) as f32; ranges are whole rows.</summary>
    void Read(long firstElement, Span<float> destination);
}

/// <summary>Where model weights come from: a checkpoint in some format, a dictionary, a random generator.</summary>
public interface IWeightSource
{
    /// <summary>The file or object errors about missing tensors should name.</summary>
    string SourcePath { get; }

    /// <summary>The name this source would store <paramref name="id"/> under (for messages).</summary>
    string NameOf(WeightId id);

    /// <summary>The tensor, or null when the source does not have it.</summary>
    IWeightTensor? Find(WeightId id);
}
