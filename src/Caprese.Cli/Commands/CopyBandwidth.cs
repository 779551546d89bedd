using Caprese.Interop;

namespace Caprese.Cli.Commands;

/// <summary>
/// Device-to-device copy bandwidth of a context's backend (bytes read + bytes written per
/// second), the streaming rate a memory-bound decoder can at best reach. An instance keeps its
/// two buffers, so that a benchmark can sample the bandwidth in every round of its own
/// measurement (the roofline then sees the same machine noise) without allocating each time.
/// </summary>
internal sealed class CopyBandwidth : IDisposable
{
    private readonly CapreseContext _context;
    private readonly DeviceBuffer _src;
    private readonly DeviceBuffer _dst;
    private readonly long _bytes;

    public CopyBandwidth(CapreseContext ctx, long bytes = 256L << 20)
    {
        _context = ctx;
        _bytes = bytes;
        _src = ctx.Allocate(bytes);
        try
        {
            _dst = ctx.Allocate(bytes);
        }
        catch
        {
            _src.Dispose();
            throw;
        }
        ctx.Copy(_dst.Pointer, _src.Pointer, bytes, ctx.Backend.WithinBackend()); // warm-up: first touch, clocks
    }

    /// <summary>GB/s (read + written) of the median of <paramref name="repeats"/> timed copies.</summary>
    public double Sample(int repeats = 10)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(repeats, 1);
        using var start = _context.CreateEvent();
        using var end = _context.CreateEvent();
        var kind = _context.Backend.WithinBackend();
        var times = new List<float>(repeats);
        for (int i = 0; i < repeats; i++)
        {
            _context.Record(start);
            _context.Copy(_dst.Pointer, _src.Pointer, _bytes, kind);
            _context.Record(end);
            end.Synchronize();
            times.Add(CapreseContext.ElapsedMilliseconds(start, end));
        }
        times.Sort();
        double medianMs = times[times.Count / 2];
        return 2.0 * _bytes / (medianMs * 1e6);
    }

    /// <summary>One measurement: allocate, warm up, time <paramref name="repeats"/> copies, free.</summary>
    public static double Measure(CapreseContext ctx, long bytes = 256L << 20, int repeats = 10)
    {
        using var probe = new CopyBandwidth(ctx, bytes);
        return probe.Sample(repeats);
    }

    public void Dispose()
    {
        _src.Dispose();
        _dst.Dispose();
    }
}
