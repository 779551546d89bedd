using System.Diagnostics;
using System.Globalization;

namespace Caprese.Benchmarks.DecodePeers;

/// <summary>
/// Each engine runs in a process of its own, so its load time and peak memory are its own and one
/// engine's threads or allocator never touch another's measurement. The driver writes commands
/// on the worker's stdin and reads one protocol line per command from its stdout:
/// <c>decode N</c> answers <c>@done ms=… ids=a,b,…</c>; <c>check FILE a,b,…</c> feeds those tokens and writes the
/// logits after each (f32, row by row) to FILE, answering <c>@checked</c>; <c>quit</c> answers <c>@bye hwm_kb=…</c>.
/// On start the worker loads the model and says <c>@ready load_ms=… hwm_kb=… rss_kb=… bytes_per_token=…</c>.
/// </summary>
public static class EngineWorker
{
    public const string Flag = "--decode-peers-worker";
    private const string Prefix = "@";

    /// <summary>Worker side: <c>--decode-peers-worker ENGINE MODEL DTYPE THREADS CONTEXT</c>.</summary>
    public static int Run(string[] args)
    {
        if (args.Length != 5 || !DecodeEngines.Factories.TryGetValue(args[0], out var factory))
        {
            Console.Error.WriteLine($"usage: {Flag} {{{string.Join('|', DecodeEngines.Factories.Keys)}}} MODEL DTYPE THREADS CONTEXT");
            return 2;
        }
        var timer = Stopwatch.StartNew();
        using var engine = factory(args[1], args[2], int.Parse(args[3], CultureInfo.InvariantCulture), int.Parse(args[4], CultureInfo.InvariantCulture));
        double loadMs = timer.Elapsed.TotalMilliseconds;
        long bytesPerToken = engine is CapreseEngine c ? c.WeightBytesReadPerToken : 0;
        Say(Inv($"ready load_ms={loadMs:F1} hwm_kb={ProcessMemory.PeakKb()} rss_kb={ProcessMemory.CurrentKb()} bytes_per_token={bytesPerToken}"));
        while (Console.In.ReadLine() is { } line)
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts is ["decode", var n])
            {
                var (ids, ms) = engine.Decode(int.Parse(n, CultureInfo.InvariantCulture));
                Say(Inv($"done ms={ms:F3} ids={string.Join(',', ids)}"));
            }
            else if (parts is ["check", var file, var list])
            {
                var logits = engine.ForcedLogits(list.Split(',').Select(t => int.Parse(t, CultureInfo.InvariantCulture)).ToArray());
                using (var stream = File.Create(file))
                    foreach (var row in logits)
                        stream.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(row.AsSpan()));
                Say("checked");
            }
            else if (parts is ["quit"])
            {
                Say(Inv($"bye hwm_kb={ProcessMemory.PeakKb()}"));
                return 0;
            }
            else
            {
                Console.Error.WriteLine($"worker: unknown command '{line}'");
                return 2;
            }
        }
        return 0;
    }

    private static void Say(string line)
    {
        Console.Out.WriteLine(Prefix + line);
        Console.Out.Flush();
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>Driver side: a started worker.</summary>
    public sealed class Client : IDisposable
    {
        private readonly Process _process;
        private readonly string _name;

        private Client(Process process, string name)
        {
            _process = process;
            _name = name;
        }

        public Process Process => _process;

        public double LoadMs { get; private set; }
        public long LoadPeakKb { get; private set; }
        public long WeightBytesPerToken { get; private set; }

        /// <summary>Peak resident memory at the end (kB), known after <see cref="Quit"/>.</summary>
        public long FinalPeakKb { get; private set; }

        public static Client Start(string engine, string model, string dtype, int threads, int context)
        {
            var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
            // Under `dotnet X.dll` the worker is the same dll; under the apphost, the apphost itself.
            if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet")
                start.ArgumentList.Add(typeof(EngineWorker).Assembly.Location);
            foreach (var a in new[] { Flag, engine, model, dtype, threads.ToString(CultureInfo.InvariantCulture), context.ToString(CultureInfo.InvariantCulture) })
                start.ArgumentList.Add(a);
            var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start the {engine} worker");
            var client = new Client(process, engine);
            var ready = client.Expect("ready");
            client.LoadMs = double.Parse(ready["load_ms"], CultureInfo.InvariantCulture);
            client.LoadPeakKb = long.Parse(ready["hwm_kb"], CultureInfo.InvariantCulture);
            client.WeightBytesPerToken = long.Parse(ready["bytes_per_token"], CultureInfo.InvariantCulture);
            return client;
        }

        public (int[] Ids, double Milliseconds) Decode(int tokens)
        {
            Send($"decode {tokens}");
            var done = Expect("done");
            return (done["ids"].Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray(),
                double.Parse(done["ms"], CultureInfo.InvariantCulture));
        }

        /// <summary>The logits after each of <paramref name="tokens"/> (teacher forcing), <paramref name="vocab"/> per row.</summary>
        public float[][] ForcedLogits(IReadOnlyList<int> tokens, int vocab)
        {
            var file = Path.Combine(Path.GetTempPath(), $"caprese-peers-check-{Environment.ProcessId}-{_name}.bin");
            try
            {
                Send($"check {file} {string.Join(',', tokens)}");
                Expect("checked");
                var bytes = File.ReadAllBytes(file);
                var all = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes).ToArray();
                if (all.Length != tokens.Count * vocab)
                    throw new InvalidOperationException($"{_name} worker wrote {all.Length} logits, expected {tokens.Count} x {vocab}");
                return Enumerable.Range(0, tokens.Count).Select(i => all.AsSpan(i * vocab, vocab).ToArray()).ToArray();
            }
            finally
            {
                File.Delete(file);
            }
        }

        public void Quit()
        {
            Send("quit");
            FinalPeakKb = long.Parse(Expect("bye")["hwm_kb"], CultureInfo.InvariantCulture);
            _process.WaitForExit(30_000);
        }

        private void Send(string command)
        {
            _process.StandardInput.WriteLine(command);
            _process.StandardInput.Flush();
        }

        private Dictionary<string, string> Expect(string verb)
        {
            while (_process.StandardOutput.ReadLine() is { } line)
            {
                if (!line.StartsWith(Prefix, StringComparison.Ordinal))
                    continue; // anything a native library prints to stdout
                var parts = line[Prefix.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (parts[0] != verb)
                    throw new InvalidOperationException($"{_name} worker answered '{line}', expected '{verb}'");
                return parts.Skip(1).Select(p => p.Split('=', 2)).ToDictionary(kv => kv[0], kv => kv[1]);
            }
            _process.WaitForExit(10_000);
            throw new InvalidOperationException($"the {_name} worker exited (code {(_process.HasExited ? _process.ExitCode : -1)}) before answering '{verb}'; its stderr is above");
        }

        public void Dispose()
        {
            if (!_process.HasExited)
            {
                try { _process.Kill(); }
                catch (InvalidOperationException) { }
            }
            _process.Dispose();
        }
    }
}

/// <summary>This process's resident memory from /proc/self/status (Linux; 0 elsewhere).</summary>
public static class ProcessMemory
{
    public static long PeakKb() => Read("VmHWM:");
    public static long CurrentKb() => Read("VmRSS:");

    private static long Read(string field)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith(field, StringComparison.Ordinal))
                    return long.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
        }
        return 0;
    }
}
