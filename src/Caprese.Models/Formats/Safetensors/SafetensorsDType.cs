namespace Caprese.Models.Formats.Safetensors;

/// <summary>safetensors element types; the names are the header's dtype strings.</summary>
public enum SafetensorsDType
{
    BOOL,
    U8,
    I8,
    F8_E5M2,
    F8_E4M3,
    I16,
    U16,
    F16,
    BF16,
    I32,
    U32,
    F32,
    F64,
    I64,
    U64,
}

public static class SafetensorsDTypeInfo
{
    public static int Size(SafetensorsDType dtype) => dtype switch
    {
        SafetensorsDType.BOOL or SafetensorsDType.U8 or SafetensorsDType.I8 or SafetensorsDType.F8_E5M2 or SafetensorsDType.F8_E4M3 => 1,
        SafetensorsDType.I16 or SafetensorsDType.U16 or SafetensorsDType.F16 or SafetensorsDType.BF16 => 2,
        SafetensorsDType.I32 or SafetensorsDType.U32 or SafetensorsDType.F32 => 4,
        SafetensorsDType.F64 or SafetensorsDType.I64 or SafetensorsDType.U64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    /// <summary>The exact (case-sensitive) header spelling; unknown names give false.</summary>
    public static bool TryParse(string name, out SafetensorsDType dtype) => ByName.TryGetValue(name, out dtype);

    // An explicit table: Enum.TryParse would also accept "3" or "U8,BOOL".
    private static readonly Dictionary<string, SafetensorsDType> ByName =
        Enum.GetValues<SafetensorsDType>().ToDictionary(d => d.ToString(), StringComparer.Ordinal);

    /// <summary>F32, F16 and BF16 convert to f32; the other dtypes are readable only as raw bytes.</summary>
    public static bool IsFloat(SafetensorsDType dtype) =>
        dtype is SafetensorsDType.F32 or SafetensorsDType.F16 or SafetensorsDType.BF16;

    internal static TensorEncoding? Encoding(SafetensorsDType dtype) => dtype switch
    {
        SafetensorsDType.F32 => TensorEncoding.F32,
        SafetensorsDType.F16 => TensorEncoding.F16,
        SafetensorsDType.BF16 => TensorEncoding.BF16,
        _ => null,
    };
}
