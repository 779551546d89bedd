using System.Globalization;
using Caprese.Models.Loading;

namespace Caprese.Models.Formats.Gguf;

/// <summary>
/// One metadata value. The getters are strict about the stored type (a u64 is not returned by
/// <see cref="GetUInt32"/>) and their errors name the file and key; <see cref="GetInteger"/> and
/// <see cref="GetNumber"/> accept any integer or numeric type for fields writers disagree on.
/// </summary>
public sealed class GgufValue
{
    private readonly object _value;

    internal GgufValue(string filePath, string key, GgufValueType type, object value, GgufValueType? elementType = null)
    {
        FilePath = filePath;
        Key = key;
        Type = type;
        _value = value;
        ElementType = elementType;
    }

    public string FilePath { get; }

    /// <summary>The metadata key; for elements of nested arrays "key[i]".</summary>
    public string Key { get; }

    public GgufValueType Type { get; }

    /// <summary>For arrays, the element type; null otherwise.</summary>
    public GgufValueType? ElementType { get; }

    /// <summary>For arrays, the element count; 0 otherwise.</summary>
    public int ArrayLength => _value is Array a ? a.Length : 0;

    public byte GetUInt8() => Get<byte>(GgufValueType.UInt8);
    public sbyte GetInt8() => Get<sbyte>(GgufValueType.Int8);
    public ushort GetUInt16() => Get<ushort>(GgufValueType.UInt16);
    public short GetInt16() => Get<short>(GgufValueType.Int16);
    public uint GetUInt32() => Get<uint>(GgufValueType.UInt32);
    public int GetInt32() => Get<int>(GgufValueType.Int32);
    public ulong GetUInt64() => Get<ulong>(GgufValueType.UInt64);
    public long GetInt64() => Get<long>(GgufValueType.Int64);
    public float GetFloat32() => Get<float>(GgufValueType.Float32);
    public double GetFloat64() => Get<double>(GgufValueType.Float64);
    public bool GetBool() => Get<bool>(GgufValueType.Bool);
    public string GetString() => Get<string>(GgufValueType.String);

    /// <summary>Any integer type as a long (a u64 above long.MaxValue is an error).</summary>
    public long GetInteger() => _value switch
    {
        byte v => v,
        sbyte v => v,
        ushort v => v,
        short v => v,
        uint v => v,
        int v => v,
        long v => v,
        ulong v when v <= long.MaxValue => (long)v,
        ulong v => throw Error($"value {v} does not fit a signed 64-bit integer"),
        _ => throw WrongType("an integer"),
    };

    /// <summary>Any integer or floating-point type as a double.</summary>
    public double GetNumber() => _value switch
    {
        float v => v,
        double v => v,
        ulong v => v,
        Array => throw WrongType("a number"),
        string => throw WrongType("a number"),
        bool => throw WrongType("a number"),
        _ => GetInteger(),
    };

    /// <summary>
    /// A copy of an array's elements. <typeparamref name="T"/> must match the element type exactly:
    /// byte, sbyte, ushort, short, uint, int, ulong, long, float, double, bool, string, or
    /// <see cref="GgufValue"/> for arrays of arrays.
    /// </summary>
    public T[] GetArray<T>() => GetArraySpan<T>().ToArray();

    /// <summary>The array's elements without copying; see <see cref="GetArray{T}"/>.</summary>
    public ReadOnlySpan<T> GetArraySpan<T>()
    {
        if (Type != GgufValueType.Array)
            throw WrongType($"an array of {typeof(T).Name}");
        if (_value is T[] typed)
            return typed;
        throw Error($"is an array of {ElementType}, not of {typeof(T).Name}");
    }

    public override string ToString() => _value switch
    {
        string s => s.Length > 80 ? $"\"{s[..77]}...\"" : $"\"{s}\"",
        Array a => $"[{ElementType} x {a.Length}]",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => _value.ToString() ?? "",
    };

    private T Get<T>(GgufValueType expected) =>
        Type == expected && _value is T v ? v : throw WrongType(expected.ToString());

    private ModelFormatException WrongType(string expected) =>
        Error($"has type {Describe()}, expected {expected}");

    private string Describe() => Type == GgufValueType.Array ? $"Array of {ElementType}" : Type.ToString();

    private ModelFormatException Error(string problem) => new(FilePath, $"metadata key '{Key}'", problem);
}
