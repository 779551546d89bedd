using System.Buffers.Binary;
using System.Text;
using Caprese.Models.Loading;

namespace Caprese.Models.Formats;

/// <summary>
/// Little-endian cursor over a bounded window of a file. Any read past the window throws
/// <see cref="ModelFormatException"/> naming the file, <see cref="Item"/> (what is being parsed)
/// and the field, so a truncated or lying header can never read outside the data.
/// </summary>
public ref struct SpanReader
{
    private readonly ReadOnlySpan<byte> _data;
    private readonly long _baseOffset;
    private int _pos;

    /// <param name="data">The window to read.</param>
    /// <param name="filePath">For error messages.</param>
    /// <param name="baseOffset">File offset of <paramref name="data"/>[0], so errors report file offsets.</param>
    public SpanReader(ReadOnlySpan<byte> data, string filePath, long baseOffset = 0)
    {
        _data = data;
        FilePath = filePath;
        _baseOffset = baseOffset;
        _pos = 0;
        Item = "header";
    }

    public string FilePath { get; }

    /// <summary>What is being parsed ("header", "metadata key 'x'", "tensor 'y'"), for error messages.</summary>
    public string Item { get; set; }

    /// <summary>
    /// Extra explanation appended to overrun errors, e.g. that the window was capped below the
    /// file length (the header is larger than the reader allows) rather than the file being truncated.
    /// </summary>
    public string? OverrunHint { get; set; }

    /// <summary>Position as a file offset.</summary>
    public readonly long Position => _baseOffset + _pos;

    public readonly int Remaining => _data.Length - _pos;

    public byte ReadByte(string field) => Take(1, field)[0];
    public sbyte ReadSByte(string field) => (sbyte)Take(1, field)[0];
    public ushort ReadUInt16(string field) => BinaryPrimitives.ReadUInt16LittleEndian(Take(2, field));
    public short ReadInt16(string field) => BinaryPrimitives.ReadInt16LittleEndian(Take(2, field));
    public uint ReadUInt32(string field) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, field));
    public int ReadInt32(string field) => BinaryPrimitives.ReadInt32LittleEndian(Take(4, field));
    public ulong ReadUInt64(string field) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, field));
    public long ReadInt64(string field) => BinaryPrimitives.ReadInt64LittleEndian(Take(8, field));
    public float ReadSingle(string field) => BinaryPrimitives.ReadSingleLittleEndian(Take(4, field));
    public double ReadDouble(string field) => BinaryPrimitives.ReadDoubleLittleEndian(Take(8, field));

    /// <summary>Next <paramref name="count"/> bytes; <paramref name="count"/> comes from the file, hence unsigned and checked.</summary>
    public ReadOnlySpan<byte> ReadBytes(ulong count, string field)
    {
        if (count > (ulong)Remaining)
            throw Overrun(count, field);
        return Take((int)count, field);
    }

    public void Skip(ulong count, string field) => ReadBytes(count, field);

    /// <summary>
    /// UTF-8 text of <paramref name="byteCount"/> bytes. Invalid sequences become U+FFFD rather than
    /// failing: real vocabularies occasionally hold partial UTF-8 pieces.
    /// </summary>
    public string ReadUtf8(ulong byteCount, string field) => Encoding.UTF8.GetString(ReadBytes(byteCount, field));

    /// <summary>A format error at the current position, with the reader's file and item.</summary>
    public readonly ModelFormatException Error(string problem) =>
        new(FilePath, Item, $"{problem} (at offset {Position})");

    private ReadOnlySpan<byte> Take(int count, string field)
    {
        if (count > Remaining)
            throw Overrun((ulong)count, field);
        var s = _data.Slice(_pos, count);
        _pos += count;
        return s;
    }

    private readonly ModelFormatException Overrun(ulong count, string field) =>
        new(FilePath, Item, $"{field} at offset {Position} needs {count} bytes but only {Remaining} remain"
            + (OverrunHint is null ? " (file truncated or a length field is corrupt)" : $" ({OverrunHint})"));
}
