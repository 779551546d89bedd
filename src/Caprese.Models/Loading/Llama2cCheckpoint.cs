using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;

namespace Caprese.Models.Loading;

/// <summary>
/// Read-only view of a llama2.c checkpoint: a 7-int32 header, then f32 tensors in a fixed
/// order. The file is memory-mapped, so opening it costs no copy and tensors are handed out
/// as spans straight into the mapping. The file length must match the header exactly.
/// </summary>
public sealed unsafe class Llama2cCheckpoint : IDisposable
{
    private readonly Dictionary<string, Llama2cTensorInfo> _byName;
    private readonly IDisposable _owner;
    private byte* _base;

    private Llama2cCheckpoint(string filePath, Llama2cHeader header, IReadOnlyList<Llama2cTensorInfo> tensors,
        byte* basePointer, IDisposable owner)
    {
        FilePath = filePath;
        Header = header;
        Tensors = tensors;
        _byName = tensors.ToDictionary(t => t.Name);
        _base = basePointer;
        _owner = owner;
    }

    public string FilePath { get; }
    public Llama2cHeader Header { get; }

    /// <summary>Every tensor in file order, the legacy RoPE tables included.</summary>
    public IReadOnlyList<Llama2cTensorInfo> Tensors { get; }

    /// <summary>Maps <paramref name="path"/> and validates header and length.</summary>
    /// <exception cref="ModelFormatException">The content is not a valid checkpoint.</exception>
    public static Llama2cCheckpoint Open(string path)
    {
        var fullPath = Path.GetFullPath(path);
        var stream = new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read);
        try
        {
            long length = stream.Length;
            if (length < Llama2cHeader.SizeInBytes)
                throw new ModelFormatException(fullPath, "header", $"file has {length} bytes, the header alone needs {Llama2cHeader.SizeInBytes}");

            var map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            var view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
            var owner = new MappingOwner(map, view);
            try
            {
                byte* p = null;
                view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
                owner.Acquired = true;
                p += view.PointerOffset;
                return Create(fullPath, p, length, owner);
            }
            catch
            {
                owner.Dispose();
                throw;
            }
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Reads a checkpoint held in memory (tests, embedded resources). The array is pinned until disposal.</summary>
    public static Llama2cCheckpoint FromBytes(byte[] data, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Length < Llama2cHeader.SizeInBytes)
            throw new ModelFormatException(sourceName, "header", $"file has {data.Length} bytes, the header alone needs {Llama2cHeader.SizeInBytes}");
        var owner = new PinOwner(GCHandle.Alloc(data, GCHandleType.Pinned));
        try
        {
            return Create(sourceName, (byte*)owner.Handle.AddrOfPinnedObject(), data.Length, owner);
        }
        catch
        {
            owner.Dispose();
            throw;
        }
    }

    /// <summary>A whole tensor as f32 values (stacked tensors: all layers).</summary>
    public ReadOnlySpan<float> Tensor(string name) => Slice(Info(name), 0, Info(name).ElementCount);

    /// <summary>One layer of a stacked per-layer tensor.</summary>
    public ReadOnlySpan<float> Layer(string name, int layer)
    {
        var info = Info(name);
        ArgumentOutOfRangeException.ThrowIfNegative(layer);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(layer, (int)info.Shape[0]);
        long perLayer = info.ElementCount / info.Shape[0];
        return Slice(info, layer * perLayer, perLayer);
    }

    public Llama2cTensorInfo Info(string name) =>
        _byName.TryGetValue(name, out var info) ? info : throw new KeyNotFoundException($"{FilePath} has no tensor '{name}'");

    public bool Contains(string name) => _byName.ContainsKey(name);

    public void Dispose()
    {
        _base = null;
        _owner.Dispose();
    }

    private ReadOnlySpan<float> Slice(Llama2cTensorInfo info, long firstElement, long count)
    {
        ObjectDisposedException.ThrowIf(_base == null, this);
        if (count > int.MaxValue)
            throw new NotSupportedException($"{FilePath}: tensor {info.Name} has {count} elements, more than one span can hold; read it per layer");
        return new ReadOnlySpan<float>(_base + info.ByteOffset + firstElement * sizeof(float), (int)count);
    }

    private static Llama2cCheckpoint Create(string filePath, byte* p, long length, IDisposable owner)
    {
        var fields = new ReadOnlySpan<int>(p, 7).ToArray();
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("llama2.c checkpoints are little-endian");
        var header = Llama2cHeader.Parse(fields, filePath);
        IReadOnlyList<Llama2cTensorInfo> tensors;
        try
        {
            tensors = Layout(header);
        }
        catch (OverflowException)
        {
            throw new ModelFormatException(filePath, "header", "tensor sizes overflow 64 bits");
        }
        CheckLength(filePath, tensors, length);
        return new Llama2cCheckpoint(filePath, header, tensors, p, owner);
    }

    /// <summary>The tensors the header implies, in llama2.c file order.</summary>
    public static IReadOnlyList<Llama2cTensorInfo> Layout(Llama2cHeader h)
    {
        long d = h.Dim, hid = h.HiddenDim, l = h.Layers, kvd = h.KvDim, v = h.Vocab, s = h.MaxSeqLen;
        var list = new List<Llama2cTensorInfo>();
        long offset = Llama2cHeader.SizeInBytes;
        void Add(string name, params long[] shape)
        {
            var info = new Llama2cTensorInfo(name, offset, shape);
            offset = info.ByteEnd; // checked: a corrupt header cannot wrap around
            list.Add(info);
        }

        Add(TensorNames.TokenEmbedding, v, d);
        Add(TensorNames.RmsAttention, l, d);
        Add(TensorNames.Wq, l, d, d);
        Add(TensorNames.Wk, l, kvd, d);
        Add(TensorNames.Wv, l, kvd, d);
        Add(TensorNames.Wo, l, d, d);
        Add(TensorNames.RmsFfn, l, d);
        Add(TensorNames.W1Gate, l, hid, d);
        Add(TensorNames.W2Down, l, d, hid);
        Add(TensorNames.W3Up, l, hid, d);
        Add(TensorNames.RmsFinal, d);
        // Precomputed RoPE tables of old exports; unused (RoPE is computed) but they occupy the file.
        Add(TensorNames.FreqCisReal, s, h.HeadDim / 2);
        Add(TensorNames.FreqCisImag, s, h.HeadDim / 2);
        if (!h.SharedClassifier)
            Add(TensorNames.Classifier, v, d);
        return list;
    }

    private static void CheckLength(string filePath, IReadOnlyList<Llama2cTensorInfo> tensors, long length)
    {
        foreach (var t in tensors)
        {
            if (t.ByteEnd > length)
                throw new ModelFormatException(filePath, $"tensor {t.Name}",
                    $"needs bytes {t.ByteOffset}..{t.ByteEnd} but the file has only {length} bytes (truncated, or the header is wrong)");
        }
        long end = tensors[^1].ByteEnd;
        if (end != length)
            throw new ModelFormatException(filePath, $"after tensor {tensors[^1].Name}",
                $"{length - end} extra bytes: the header implies a {end}-byte file but it has {length} bytes");
    }

    private sealed class MappingOwner(MemoryMappedFile map, MemoryMappedViewAccessor view) : IDisposable
    {
        public bool Acquired;

        public void Dispose()
        {
            if (Acquired)
            {
                view.SafeMemoryMappedViewHandle.ReleasePointer();
                Acquired = false;
            }
            view.Dispose();
            map.Dispose();
        }
    }

    private sealed class PinOwner(GCHandle handle) : IDisposable
    {
        public GCHandle Handle = handle;

        public void Dispose()
        {
            if (Handle.IsAllocated)
                Handle.Free();
        }
    }
}
