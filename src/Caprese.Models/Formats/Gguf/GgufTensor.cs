namespace Caprese.Models.Formats.Gguf;

/// <summary>
/// One tensor of a <see cref="GgufFile"/>. <see cref="Dimensions"/> are in GGUF order (innermost,
/// i.e. contiguous, first); <see cref="MappedTensor.Shape"/> is the row-major reverse, so
/// token_embd.weight with GGUF dims [dim, vocab] has Shape [vocab, dim].
/// </summary>
public sealed class GgufTensor : MappedTensor
{
    private readonly long[] _dimensions;

    internal GgufTensor(MappedFile file, string name, long[] dimensions, GgmlType type, long relativeOffset,
        long fileOffset, long elementCount, long byteLength)
        : base(file, name, Reverse(dimensions), elementCount, fileOffset, byteLength, GgmlTypeInfo.Encoding(type))
    {
        _dimensions = dimensions;
        Type = type;
        RelativeOffset = relativeOffset;
    }

    /// <summary>Dimensions as stored: innermost first.</summary>
    public IReadOnlyList<long> Dimensions => _dimensions;

    public GgmlType Type { get; }

    /// <summary>Offset of the data from the start of the data section, as stored in the file.</summary>
    public long RelativeOffset { get; }

    public override string TypeName => GgmlTypeInfo.Name(Type);

    private static long[] Reverse(long[] dims)
    {
        var shape = (long[])dims.Clone();
        Array.Reverse(shape);
        return shape;
    }
}
