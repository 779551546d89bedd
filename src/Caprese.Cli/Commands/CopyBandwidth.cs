using Caprese.Interop;

namespace Caprese.Cli.Commands;

/// <summary>
/// Device-to-device copy bandwidth of a context's backend (bytes read + bytes written per
/// second), the streaming rate a memory-bound decoder can at best reach.
/// </summary>
internal static class CopyBandwidth
{
    public static double Measure(CapreseContext ctx, long bytes = 256L << 20, int repeats = 10)
    {
        using var src = ctx.Allocate(bytes);
        using var dst = ctx.Allocate(bytes);
        using var start = ctx.CreateEvent();
        using var end = ctx.CreateEvent();
        var kind = ctx.Backend.WithinBackend();
        ctx.Copy(dst.Pointer, src.Pointer, bytes, kind); // warm-up: first touch, clocks
        var times = new List<float>(repeats);
        for (int i = 0; i < repeats; i++)
        {
            ctx.Record(start);
            ctx.Copy(dst.Pointer, src.Pointer, bytes, kind);
            ctx.Record(end);
            end.Synchronize();
            times.Add(CapreseContext.ElapsedMilliseconds(start, end));
        }
        times.Sort();
        double medianMs = times[times.Count / 2];
        return 2.0 * bytes / (medianMs * 1e6);
    }
}
