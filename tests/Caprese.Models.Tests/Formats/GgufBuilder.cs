using System.Text;

namespace Caprese.Models.Tests.Formats;

/// <summary>
/// Writes GGUF images for tests, written independently of the reader from the format description:
/// magic, version, counts, key/values, tensor infos, padding to the alignment, tensor data.
/// Every field can be overridden so malformed files are easy to make.
/// </summary>
internal sealed class GgufBuilder
{
    private readonly List<(string Key, uint Type, Action<BinaryWriter> Write)> _kvs = [];
    private readonly List<TensorSpec> _tensors = [];

    public uint Version { get; set; } = 3;
    public uint Magic { get; set; } = 0x46554747;

    /// <summary>Alignment used to lay out the data (independent of any general.alignment key written).</summary>
    public int LayoutAlignment { get; set; } = 32;

    public ulong? TensorCountOverride { get; set; }
    public ulong? MetadataCountOverride { get; set; }

    private bool Wide => Version >= 2;

    public sealed class TensorSpec
    {
        public required string Name { get; init; }
        public required ulong[] Dims { get; init; }
        public required uint Type { get; init; }
        public required byte[] Data { get; init; }
        public ulong? OffsetOverride { get; set; }
    }

    public GgufBuilder Add(string key, uint type, Action<BinaryWriter> write)
    {
        _kvs.Add((key, type, write));
        return this;
    }

    public GgufBuilder AddUInt32(string key, uint v) => Add(key, 4, w => w.Write(v));
    public GgufBuilder AddInt32(string key, int v) => Add(key, 5, w => w.Write(v));
    public GgufBuilder AddUInt64(string key, ulong v) => Add(key, 10, w => w.Write(v));
    public GgufBuilder AddFloat32(string key, float v) => Add(key, 6, w => w.Write(v));
    public GgufBuilder AddFloat64(string key, double v) => Add(key, 12, w => w.Write(v));
    public GgufBuilder AddBool(string key, bool v) => Add(key, 7, w => w.Write((byte)(v ? 1 : 0)));
    public GgufBuilder AddUInt8(string key, byte v) => Add(key, 0, w => w.Write(v));
    public GgufBuilder AddInt8(string key, sbyte v) => Add(key, 1, w => w.Write(v));
    public GgufBuilder AddUInt16(string key, ushort v) => Add(key, 2, w => w.Write(v));
    public GgufBuilder AddInt16(string key, short v) => Add(key, 3, w => w.Write(v));
    public GgufBuilder AddInt64(string key, long v) => Add(key, 11, w => w.Write(v));
    public GgufBuilder AddString(string key, string v) => Add(key, 8, w => WriteString(w, v));

    public GgufBuilder AddStringArray(string key, string[] values) => Add(key, 9, w =>
    {
        w.Write(8u);
        WriteCount(w, (ulong)values.Length);
        foreach (var s in values)
            WriteString(w, s);
    });

    public GgufBuilder AddFloat32Array(string key, float[] values) => Add(key, 9, w =>
    {
        w.Write(6u);
        WriteCount(w, (ulong)values.Length);
        foreach (var v in values)
            w.Write(v);
    });

    public GgufBuilder AddInt32Array(string key, int[] values) => Add(key, 9, w =>
    {
        w.Write(5u);
        WriteCount(w, (ulong)values.Length);
        foreach (var v in values)
            w.Write(v);
    });

    public TensorSpec AddTensor(string name, uint type, ulong[] ggufDims, byte[] data)
    {
        var t = new TensorSpec { Name = name, Dims = ggufDims, Type = type, Data = data };
        _tensors.Add(t);
        return t;
    }

    public void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        WriteCount(w, (ulong)bytes.Length);
        w.Write(bytes);
    }

    /// <summary>A count or length: u32 in v1, u64 later.</summary>
    public void WriteCount(BinaryWriter w, ulong n)
    {
        if (Wide)
            w.Write(n);
        else
            w.Write(checked((uint)n));
    }

    public byte[] Build() => Build(out _);

    /// <summary>The image; <paramref name="dataStart"/> is where the data section begins.</summary>
    public byte[] Build(out long dataStart)
    {
        using var ms = new MemoryStream();
        using var w = new BinaryWriter(ms);
        w.Write(Magic);
        w.Write(Version);
        if (Wide)
        {
            w.Write(TensorCountOverride ?? (ulong)_tensors.Count);
            w.Write(MetadataCountOverride ?? (ulong)_kvs.Count);
        }
        else
        {
            w.Write((uint)(TensorCountOverride ?? (ulong)_tensors.Count));
            w.Write((uint)(MetadataCountOverride ?? (ulong)_kvs.Count));
        }
        foreach (var (key, type, write) in _kvs)
        {
            WriteString(w, key);
            w.Write(type);
            write(w);
        }

        // Lay the data out in order, each tensor padded to the alignment.
        var offsets = new List<ulong>();
        ulong next = 0;
        foreach (var t in _tensors)
        {
            offsets.Add(next);
            next = Align(next + (ulong)t.Data.Length, (ulong)LayoutAlignment);
        }
        for (int i = 0; i < _tensors.Count; i++)
        {
            var t = _tensors[i];
            WriteString(w, t.Name);
            w.Write((uint)t.Dims.Length);
            foreach (var d in t.Dims)
            {
                if (Wide)
                    w.Write(d);
                else
                    w.Write(checked((uint)d));
            }
            w.Write(t.Type);
            w.Write(t.OffsetOverride ?? offsets[i]);
        }
        w.Flush();
        dataStart = (long)Align((ulong)ms.Length, (ulong)LayoutAlignment);
        ms.SetLength(dataStart);
        ms.Position = dataStart;
        for (int i = 0; i < _tensors.Count; i++)
        {
            ms.Position = dataStart + (long)offsets[i];
            ms.Write(_tensors[i].Data);
        }
        if (_tensors.Count > 0)
            ms.SetLength(dataStart + (long)next);
        return ms.ToArray();
    }

    private static ulong Align(ulong v, ulong a) => (v + a - 1) / a * a;
}
