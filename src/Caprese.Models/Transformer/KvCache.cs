using Caprese.Interop;

namespace Caprese.Models.Transformer;

/// <summary>Per-layer key and value caches, each [MaxSeqLen, KvHeads, HeadDim] f32.</summary>
public sealed class KvCache : IDisposable
{
    private readonly DeviceBuffer[] _keys;
    private readonly DeviceBuffer[] _values;

    public KvCache(CapreseContext context, ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(context);
        Config = config;
        _keys = new DeviceBuffer[config.Layers];
        _values = new DeviceBuffer[config.Layers];
        try
        {
            for (int l = 0; l < config.Layers; l++)
            {
                _keys[l] = context.Allocate(DType.F32, config.MaxSeqLen, config.KvHeads, config.HeadDim);
                _values[l] = context.Allocate(DType.F32, config.MaxSeqLen, config.KvHeads, config.HeadDim);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public ModelConfig Config { get; }

    public TensorDesc Keys(int layer) => _keys[layer].Tensor;
    public TensorDesc Values(int layer) => _values[layer].Tensor;

    /// <summary>Rows <paramref name="pos0"/> .. pos0 + rows - 1 of a layer's keys as a [rows, KvDim] matrix,
    /// so a projection writes straight into the cache.</summary>
    public TensorDesc KeyRows(int layer, int pos0, int rows) => Rows(_keys[layer], pos0, rows);

    public TensorDesc ValueRows(int layer, int pos0, int rows) => Rows(_values[layer], pos0, rows);

    /// <summary>The same key rows as [rows, KvHeads, HeadDim], the shape RoPE works on.</summary>
    public TensorDesc KeyRowsByHead(int layer, int pos0, int rows)
    {
        CheckRows(pos0, rows);
        return _keys[layer].AsTensor(pos0 * RowBytes, DType.F32, rows, Config.KvHeads, Config.HeadDim);
    }

    public long Bytes => _keys.Concat(_values).Sum(b => b?.Bytes ?? 0);

    public void Dispose()
    {
        foreach (var b in _keys.Concat(_values))
            b?.Dispose();
    }

    private long RowBytes => (long)Config.KvDim * sizeof(float);

    private TensorDesc Rows(DeviceBuffer buffer, int pos0, int rows)
    {
        CheckRows(pos0, rows);
        return buffer.AsTensor(pos0 * RowBytes, DType.F32, rows, Config.KvDim);
    }

    private void CheckRows(int pos0, int rows)
    {
        if (pos0 < 0 || rows <= 0 || (long)pos0 + rows > Config.MaxSeqLen)
            throw new ArgumentOutOfRangeException(nameof(rows), $"rows {pos0}..{(long)pos0 + rows - 1} are outside the cache of {Config.MaxSeqLen} positions");
    }
}
