using Caprese.Models.Formats;

namespace Caprese.Models.Loading;

/// <summary>
/// Read-only view of a llama2.c checkpoint: a 7-int32 header, then f32 tensors in a fixed
/// order. The file is memory-mapped (<see cref="MappedFile"/>), so opening it costs no copy and
/// tensors are handed out as spans straight into the mapping. The file length must match the
/// header exactly.
/// </summary>
public sealed unsafe class Llama2cCheckpoint : IDisposable
{
    private readonly Dictionary<string, Llama2cTensorInfo> _byName;
    private readonly MappedFile _file;
    private bool _disposed;

    private Llama2cCheckpoint(MappedFile file, Llama2cHeader header, IReadOnlyList<Llama2cTensorInfo> tensors)
    {
        _file = file;
        Header = header;
        Tensors = tensors;
        _byName = tensors.ToDictionary(t => t.Name);
    }

    public string FilePath => _file.FilePath;
    public Llama2cHeader Header { get; }

    /// <summary>Every tensor in file order, the legacy RoPE tables included.</summary>
    public IReadOnlyList<Llama2cTensorInfo> Tensors { get; }

    /// <summary>Maps <paramref name="path"/> and validates header and length.</summary>
    /// <exception cref="ModelFormatException">The content is not a valid checkpoint.</exception>
    public static Llama2cCheckpoint Open(string path) => Create(MappedFile.Open(path));

    /// <summary>Reads a checkpoint held in memory (tests, embedded resources). The array is pinned until disposal.</summary>
    public static Llama2cCheckpoint FromBytes(byte[] data, string sourceName) =>
        Create(MappedFile.FromBytes(data, sourceName));

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

    /// <summary>The f32 bytes of a tensor, or of one layer of a stacked tensor (layer &gt;= 0), where they lie in the mapping.</summary>
    internal Weights.StoredTensorData StoredData(string name, int layer)
    {
        var info = Info(name);
        long count = layer >= 0 ? info.ElementCount / info.Shape[0] : info.ElementCount;
        long offset = info.ByteOffset + (layer >= 0 ? layer * count * sizeof(float) : 0);
        ObjectDisposedException.ThrowIf(_disposed, this);
        return new(Interop.DType.F32, (nint)_file.GetPointer(offset, count * sizeof(float)), count * sizeof(float), _file);
    }

    public void Dispose()
    {
        _disposed = true;
        _file.Dispose();
    }

    private ReadOnlySpan<float> Slice(Llama2cTensorInfo info, long firstElement, long count)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (count > int.MaxValue)
            throw new NotSupportedException($"{FilePath}: tensor {info.Name} has {count} elements, more than one span can hold; read it per layer");
        return new ReadOnlySpan<float>(_file.GetPointer(info.ByteOffset + firstElement * sizeof(float), count * sizeof(float)), (int)count);
    }

    // Takes ownership of `file`: disposes it when the content is rejected.
    private static Llama2cCheckpoint Create(MappedFile file)
    {
        try
        {
            string filePath = file.FilePath;
            if (file.Length < Llama2cHeader.SizeInBytes)
                throw new ModelFormatException(filePath, "header",
                    $"file has {file.Length} bytes, the header alone needs {Llama2cHeader.SizeInBytes}");
            if (!BitConverter.IsLittleEndian)
                throw new PlatformNotSupportedException("llama2.c checkpoints are little-endian");
            var fields = new ReadOnlySpan<int>(file.GetPointer(0, Llama2cHeader.SizeInBytes), 7).ToArray();
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
            CheckLength(filePath, tensors, file.Length);
            return new Llama2cCheckpoint(file, header, tensors);
        }
        catch
        {
            file.Dispose();
            throw;
        }
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
}
