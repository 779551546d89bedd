namespace Caprese.Models.Formats.Gguf;

/// <summary>
/// GGML tensor element types by their on-disk id. Only F32, F16, BF16 and Q8_0 are readable;
/// the rest are named so that a rejection can say what the file holds.
/// </summary>
public enum GgmlType : uint
{
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    MXFP4 = 39,
}

/// <summary>Per-type layout facts for the supported types.</summary>
public static class GgmlTypeInfo
{
    /// <summary>True for the types this reader can size and convert.</summary>
    public static bool IsSupported(GgmlType type) =>
        type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 or GgmlType.Q8_0;

    /// <summary>Elements per block (the innermost dimension must be a multiple of it).</summary>
    public static int BlockElements(GgmlType type) => type switch
    {
        GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 => 1,
        GgmlType.Q8_0 => TensorConvert.Q8_0BlockElements,
        _ => throw new NotSupportedException($"GGML type {Name(type)} is not supported"),
    };

    /// <summary>Bytes per block.</summary>
    public static int BlockBytes(GgmlType type) => type switch
    {
        GgmlType.F32 => 4,
        GgmlType.F16 or GgmlType.BF16 => 2,
        GgmlType.Q8_0 => TensorConvert.Q8_0BlockBytes,
        _ => throw new NotSupportedException($"GGML type {Name(type)} is not supported"),
    };

    /// <summary>"Q4_K" for known ids, "type 99" otherwise.</summary>
    public static string Name(GgmlType type) => Enum.IsDefined(type) ? type.ToString() : $"unknown type {(uint)type}";

    internal static TensorEncoding Encoding(GgmlType type) => type switch
    {
        GgmlType.F32 => TensorEncoding.F32,
        GgmlType.F16 => TensorEncoding.F16,
        GgmlType.BF16 => TensorEncoding.BF16,
        GgmlType.Q8_0 => TensorEncoding.Q8_0,
        _ => throw new NotSupportedException($"GGML type {Name(type)} is not supported"),
    };
}
