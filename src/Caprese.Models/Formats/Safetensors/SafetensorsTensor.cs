namespace Caprese.Models.Formats.Safetensors;

/// <summary>One tensor of a <see cref="SafetensorsFile"/> (shape row-major, as in the header).</summary>
public sealed class SafetensorsTensor : MappedTensor
{
    internal SafetensorsTensor(MappedFile file, string name, long[] shape, SafetensorsDType dtype,
        long begin, long end, long dataSectionOffset, long elementCount)
        : base(file, name, shape, elementCount, dataSectionOffset + begin, end - begin, SafetensorsDTypeInfo.Encoding(dtype))
    {
        DType = dtype;
        Begin = begin;
        End = end;
    }

    public SafetensorsDType DType { get; }

    /// <summary>data_offsets[0]: start relative to the data section.</summary>
    public long Begin { get; }

    /// <summary>data_offsets[1]: exclusive end relative to the data section.</summary>
    public long End { get; }

    public override string TypeName => DType.ToString();
}
