using Caprese.Interop;

namespace Caprese.Models.Transformer;

/// <summary>Scratch tensors of a forward pass, allocated once for the largest batch of rows so
/// that decoding a token allocates nothing.</summary>
internal sealed class ActivationBuffers : IDisposable
{
    private readonly List<DeviceBuffer> _all = [];

    public ActivationBuffers(CapreseContext context, ModelConfig c, int maxRows, int logitRows)
    {
        MaxRows = maxRows;
        LogitRows = logitRows;
        try
        {
            DeviceBuffer A(DType t, params long[] shape)
            {
                var b = context.Allocate(t, shape);
                _all.Add(b);
                return b;
            }

            TokenIds = A(DType.I32, maxRows);
            Residual = A(DType.F32, maxRows, c.Dim);
            Normed = A(DType.F32, maxRows, c.Dim);
            Query = A(DType.F32, maxRows, c.QueryDim);
            Attended = A(DType.F32, maxRows, c.QueryDim);
            Projected = A(DType.F32, maxRows, c.Dim);
            Gate = A(DType.F32, maxRows, c.HiddenDim);
            Up = A(DType.F32, maxRows, c.HiddenDim);
            Logits = A(DType.F32, logitRows, c.Vocab);
            ArgmaxId = A(DType.I32, logitRows);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public int MaxRows { get; }

    /// <summary>Rows classified at once (logits and argmax ids).</summary>
    public int LogitRows { get; }
    public DeviceBuffer TokenIds { get; } = null!;
    public DeviceBuffer Residual { get; } = null!;
    public DeviceBuffer Normed { get; } = null!;
    public DeviceBuffer Query { get; } = null!;
    public DeviceBuffer Attended { get; } = null!;
    public DeviceBuffer Projected { get; } = null!;
    public DeviceBuffer Gate { get; } = null!;
    public DeviceBuffer Up { get; } = null!;
    public DeviceBuffer Logits { get; } = null!;
    public DeviceBuffer ArgmaxId { get; } = null!;

    public void Dispose()
    {
        foreach (var b in _all)
            b.Dispose();
        _all.Clear();
    }
}
