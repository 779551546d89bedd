namespace Caprese.Models.Loading;

/// <summary>Where one tensor of a llama2.c checkpoint lies: byte offset in the file and shape.
/// Stacked per-layer tensors have the layer count as their first dimension.</summary>
public sealed record Llama2cTensorInfo(string Name, long ByteOffset, long[] Shape)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => checked(a * b));
    public long ByteSize => checked(ElementCount * sizeof(float));
    public long ByteEnd => checked(ByteOffset + ByteSize);
}
