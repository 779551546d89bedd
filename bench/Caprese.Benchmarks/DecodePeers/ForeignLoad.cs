using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Caprese.Benchmarks.DecodePeers;

/// <summary>
/// How much CPU other programs took while a round ran, in cores: the machine's busy time
/// (/proc/stat) minus this benchmark's own (the driver, its live workers, and its reaped children
/// such as run.c, via getrusage), over the wall time. Spin-waiting engines (llama.cpp's and
/// OpenMP's barriers) slow down by far more than their share when a core is taken from them, so a
/// round with foreign load near a core or more is not a clean measurement. Linux only; NaN elsewhere.
/// </summary>
public sealed class ForeignLoad
{
    private readonly Func<IEnumerable<Process>> _workers;
    private long _busyTicks;
    private double _ownSeconds;
    private long _start;

    public ForeignLoad(Func<IEnumerable<Process>> workers) => _workers = workers;

    public void Start()
    {
        _busyTicks = BusyTicks();
        _ownSeconds = OwnSeconds();
        _start = Stopwatch.GetTimestamp();
    }

    /// <summary>Cores' worth of CPU used by others since <see cref="Start"/>.</summary>
    public double Stop()
    {
        double wall = Stopwatch.GetElapsedTime(_start).TotalSeconds;
        long busy = BusyTicks();
        if (busy < 0 || _busyTicks < 0 || wall <= 0)
            return double.NaN;
        double busySeconds = (busy - _busyTicks) / (double)TicksPerSecond;
        return Math.Max(0, (busySeconds - (OwnSeconds() - _ownSeconds)) / wall);
    }

    /// <summary>
    /// Waits (idle) until the whole machine used fewer than <paramref name="cores"/> cores over a two-second
    /// window, at most <paramref name="maxWait"/>; returns the last window's load. Call it between rounds,
    /// when this benchmark itself is idle.
    /// </summary>
    public static double WaitForQuiet(double cores, TimeSpan maxWait)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            long before = BusyTicks();
            Thread.Sleep(2000);
            long after = BusyTicks();
            if (before < 0 || after < 0)
                return double.NaN;
            double load = (after - before) / (double)TicksPerSecond / 2.0;
            if (load < cores || waited.Elapsed >= maxWait)
                return load;
        }
    }

    // USER_HZ: 100 on every Linux this runs on (sysconf(_SC_CLK_TCK)).
    private const int TicksPerSecond = 100;

    private static long BusyTicks()
    {
        try
        {
            // cpu  user nice system idle iowait irq softirq steal ...: busy = all but idle and iowait.
            var f = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
                .Select(x => long.Parse(x, CultureInfo.InvariantCulture)).ToArray();
            return f.Take(8).Sum() - f[3] - f[4];
        }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException or IndexOutOfRangeException)
        {
            return -1;
        }
    }

    private double OwnSeconds()
    {
        double s = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds + ReapedChildrenSeconds();
        foreach (var w in _workers())
        {
            try { s += w.TotalProcessorTime.TotalSeconds; }
            catch (InvalidOperationException) { }
        }
        return s;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeVal { public long Seconds, Microseconds; }

    [StructLayout(LayoutKind.Sequential)]
    private struct RUsage
    {
        public TimeVal User, System;
        public long MaxRss, IxRss, IdRss, IsRss, MinFlt, MajFlt, NSwap, InBlock, OuBlock, MsgSnd, MsgRcv, NSignals, NVCsw, NIvCsw;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int getrusage(int who, out RUsage usage);

    private static double ReapedChildrenSeconds()
    {
        const int RusageChildren = -1;
        if (!OperatingSystem.IsLinux() || getrusage(RusageChildren, out var u) != 0)
            return 0;
        return u.User.Seconds + u.User.Microseconds / 1e6 + u.System.Seconds + u.System.Microseconds / 1e6;
    }
}
