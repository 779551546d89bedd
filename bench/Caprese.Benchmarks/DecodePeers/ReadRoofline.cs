using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Caprese.Benchmarks.DecodePeers;

/// <summary>
/// The streaming-read roofline: the rate at which <c>threads</c> threads can read a buffer many
/// times larger than the last-level cache (a decode step reads its weights once, nothing is
/// written back). Each thread sums its own contiguous slice with four independent Vector256
/// accumulators; the figure is the best of a few passes. A memcpy figure would also pay the
/// write and write-allocate traffic, and understate it.
/// </summary>
public sealed unsafe class ReadRoofline : IDisposable
{
    private readonly byte* _buffer;
    private readonly long _bytes;
    private readonly int _threads;

    /// <param name="bytes">Buffer size: well above the L3 (e.g. 512 MiB).</param>
    public ReadRoofline(long bytes, int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bytes, 1L << 20);
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        _bytes = bytes / (threads * 128L) * threads * 128L; // every slice a whole number of 4 x 32-byte steps
        _threads = threads;
        _buffer = (byte*)NativeMemory.AlignedAlloc((nuint)_bytes, 64);
        // Touch and fill every page (untouched pages would read as the shared zero page).
        new Span<byte>(_buffer, 1).Clear();
        for (long i = 0; i < _bytes; i += 1 << 30)
            new Span<byte>(_buffer + i, (int)Math.Min(1 << 30, _bytes - i)).Fill(1);
    }

    public long Bytes => _bytes;

    /// <summary>GB/s (1e9 bytes) of the fastest of <paramref name="passes"/> passes over the buffer.</summary>
    public double MeasureGBps(int passes = 5)
    {
        double best = 0;
        long slice = _bytes / _threads;
        var sums = new float[_threads];
        for (int p = 0; p < passes; p++)
        {
            using var go = new Barrier(_threads + 1);
            var workers = Enumerable.Range(0, _threads).Select(t => new Thread(() =>
            {
                go.SignalAndWait();
                sums[t] = Sum(_buffer + t * slice, slice);
                go.SignalAndWait();
            }) { IsBackground = true }).ToList();
            workers.ForEach(w => w.Start());
            go.SignalAndWait();
            var timer = Stopwatch.StartNew();
            go.SignalAndWait();
            double seconds = timer.Elapsed.TotalSeconds;
            workers.ForEach(w => w.Join());
            best = Math.Max(best, _bytes / seconds / 1e9);
        }
        GC.KeepAlive(sums);
        return best;
    }

    private static float Sum(byte* p, long bytes)
    {
        var a0 = Vector256<float>.Zero;
        var a1 = Vector256<float>.Zero;
        var a2 = Vector256<float>.Zero;
        var a3 = Vector256<float>.Zero;
        float* f = (float*)p;
        long n = bytes / sizeof(float);
        for (long i = 0; i < n; i += 32)
        {
            a0 += Vector256.LoadAligned(f + i);
            a1 += Vector256.LoadAligned(f + i + 8);
            a2 += Vector256.LoadAligned(f + i + 16);
            a3 += Vector256.LoadAligned(f + i + 24);
        }
        return Vector256.Sum(a0 + a1 + a2 + a3);
    }

    public void Dispose() => NativeMemory.AlignedFree(_buffer);
}
