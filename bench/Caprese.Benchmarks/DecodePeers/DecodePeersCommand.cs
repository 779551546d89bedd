using Caprese.Models.Formats;
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using Caprese.Models.Formats.Gguf;

namespace Caprese.Benchmarks.DecodePeers;

/// <summary>
/// <c>--decode-peers</c>: CPU greedy decode tokens/s of Caprese, llama.cpp (LLamaSharp's CPU build)
/// and, when given, llama2.c's run.c on the same weights, with the streaming-read roofline measured
/// in the same rounds. Not a BenchmarkDotNet class: the engines must take turns round by round, so
/// that whatever else the machine does hits every engine alike.
/// </summary>
public static class DecodePeersCommand
{
    public const string Flag = "--decode-peers";

    /// <summary>A round is clean when other programs used less than this many cores during it.</summary>
    public const double CleanRoundMaxForeignCores = 0.25;

    private const string Usage = """
        usage: Caprese.Benchmarks --decode-peers [--shapes stories260K,110M,1.1B] [--dtypes f32,f16,bf16,q8_0]
               [--rounds N] [--tokens N[,shape=N...]] [--threads N] [--context N] [--runc PATH] [--cache DIR]
               [--roofline-mib N] [--check-tokens N] [--quiet-below CORES] [--quiet-wait SECONDS]
               [--json FILE] [--markdown FILE] [--note TEXT]
        Defaults: --shapes stories260K,110M --dtypes f32,f16 --rounds 5 --tokens 32 --threads <logical processors>
                  --context max(256, tokens + 2) --cache <temp>/caprese-peers --roofline-mib 512 --check-tokens 16
        --quiet-below waits before each round until other programs use fewer cores than that (shared machines).
        run.c is built by you: gcc -Ofast -fopenmp run.c -lm -o run (llama2.c); it runs the f32 rows only.
        """;

    private sealed record Options(string[] Shapes, string[] DTypes, int Rounds, int Tokens, IReadOnlyDictionary<string, int> TokensByShape,
        int Threads, int? ContextOption, string? RunC,
        string Cache, int RooflineMiB, int CheckTokens, string? Json, string? Markdown, string? Note, double? QuietBelow, int QuietWaitSeconds)
    {
        public int TokensFor(string shape) => TokensByShape.GetValueOrDefault(shape, Tokens);
        public int ContextFor(string shape) => ContextOption ?? Math.Max(256, Math.Max(TokensFor(shape) + 2, CheckTokens));
    }

    public static int Run(string[] args)
    {
        Options o;
        try
        {
            o = Parse(args);
        }
        catch (ArgumentException ex)
        {
            Console.Error.WriteLine($"error: {ex.Message}\n{Usage}");
            return 2;
        }
        string loadBefore = LoadAverage();
        var rows = new List<PeerRow>();
        using var roofline = new ReadRoofline((long)o.RooflineMiB << 20, o.Threads);
        var total = Stopwatch.StartNew();
        foreach (var shapeName in o.Shapes)
        {
            var shape = PeerModels.Shape(shapeName);
            var dtypes = o.DTypes.Where(d => d != "q8_0" || shape.Config.HiddenDim % 32 == 0 && shape.Config.Dim % 32 == 0).ToArray();
            foreach (var skipped in o.DTypes.Except(dtypes))
                Console.Error.WriteLine($"[decode-peers] {shapeName}: {skipped} skipped (rows are not whole 32-value blocks)");
            var files = PeerModels.Prepare(shape, dtypes, o.Cache, withLlama2c: o.RunC is not null && dtypes.Contains("f32"));
            foreach (var dtype in dtypes)
                rows.Add(Measure(o, shape, files, dtype, roofline));
        }

        var report = new DecodePeersReport(
            Commit: GitRevision(), TimestampUtc: DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
            Machine: CpuName(), LogicalProcessors: Environment.ProcessorCount, Threads: o.Threads, Rounds: o.Rounds, RooflineBufferMiB: roofline.Bytes / 1048576.0, LoadAverageBefore: loadBefore, LoadAverageAfter: LoadAverage(),
            CommandLine: "Caprese.Benchmarks " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1).Select(a => a.Contains(' ') ? $"\"{a}\"" : a)),
            LlamaSharp: LlamaSharpVersion(), RunC: o.RunC, Note: o.Note, Rows: rows);
        string markdown = report.ToMarkdown();
        if (o.Json is not null)
            AtomicFile.WriteAllText(o.Json, report.ToJson());
        if (o.Markdown is not null)
            AtomicFile.WriteAllText(o.Markdown, markdown);
        Console.WriteLine(markdown);
        Console.Error.WriteLine($"[decode-peers] done in {total.Elapsed.TotalSeconds:F0} s");
        return rows.Any(r => r.DType == "f32" && r.Check is { Agree: false }) ? 1 : 0;
    }

    private static PeerRow Measure(Options o, PeerShape shape, PeerModelFiles files, string dtype, ReadRoofline roofline)
    {
        string gguf = files.GgufByDType[dtype];
        int tokens = o.TokensFor(shape.Name), context = o.ContextFor(shape.Name);
        string label = $"{shape.Name} {dtype}";
        Console.Error.WriteLine($"[decode-peers] {label}: loading Caprese and llama.cpp workers ({o.Threads} threads)");
        using var caprese = EngineWorker.Client.Start("caprese", gguf, dtype, o.Threads, context);
        using var llama = EngineWorker.Client.Start("llama.cpp", gguf, dtype, o.Threads, context);

        // Warm-up round (not recorded), then the check that both engines compute the same function.
        var ours = caprese.Decode(tokens).Ids;
        var theirs = llama.Decode(tokens).Ids;
        var check = Check(o, shape, caprese, llama, ours, theirs);
        Console.Error.WriteLine(Inv($"[decode-peers] {label}: forced argmax {(check.Agree ? "agrees" : "DIFFERS")} ({check.ForcedArgmaxCaprese.Zip(check.ForcedArgmaxLlamaCpp).Count(p => p.First == p.Second)}/{check.Compared}), ") +
            Inv($"max relative logit difference {check.MaxRelativeLogitDifference:G3}; free-running greedy ids Caprese {string.Join(' ', check.Caprese)} / llama.cpp {string.Join(' ', check.LlamaCpp)}"));
        bool runc = o.RunC is not null && dtype == "f32";
        if (runc)
            RunCPeer.TokensPerSecond(o.RunC!, files.Llama2c, files.Llama2cTokenizer, tokens, o.Threads); // warm its page cache

        var turns = new List<(string Name, Func<double> Measure)>
        {
            ("caprese", () => tokens / (caprese.Decode(tokens).Milliseconds / 1000)),
            ("llama.cpp", () => tokens / (llama.Decode(tokens).Milliseconds / 1000)),
            ("roofline", () => roofline.MeasureGBps()),
        };
        if (runc)
            turns.Add(("run.c", () => RunCPeer.TokensPerSecond(o.RunC!, files.Llama2c, files.Llama2cTokenizer, tokens, o.Threads)));
        var samples = turns.ToDictionary(t => t.Name, _ => new double[o.Rounds]);
        var foreign = new ForeignLoad(() => [caprese.Process, llama.Process]);
        var foreignCores = new double[o.Rounds];
        for (int round = 0; round < o.Rounds; round++)
        {
            if (o.QuietBelow is { } quiet)
            {
                double idle = ForeignLoad.WaitForQuiet(quiet, TimeSpan.FromSeconds(o.QuietWaitSeconds));
                if (idle >= quiet)
                    Console.Error.WriteLine(Inv($"[decode-peers] {label}: the machine stayed busy ({idle:F2} cores) for {o.QuietWaitSeconds} s; measuring anyway"));
            }
            foreign.Start();
            for (int k = 0; k < turns.Count; k++)
            {
                var (name, measure) = turns[(round + k) % turns.Count]; // a different engine goes first each round
                samples[name][round] = measure();
            }
            foreignCores[round] = foreign.Stop();
            Console.Error.WriteLine($"[decode-peers] {label} round {round + 1}/{o.Rounds}: " +
                string.Join(", ", turns.Select(t => Inv($"{t.Name} {samples[t.Name][round]:F1}{(t.Name == "roofline" ? " GB/s" : " tok/s")}"))) +
                Inv($"; other programs used {foreignCores[round]:F2} cores"));
        }
        caprese.Quit();
        llama.Quit();

        // Rounds during which other programs took a sizeable share of a core are set aside when at least
        // half the rounds were clean; otherwise all rounds count and the row says so.
        int[] clean = [.. Enumerable.Range(0, o.Rounds).Where(r => !(foreignCores[r] >= CleanRoundMaxForeignCores))];
        int[] used = clean.Length * 2 >= o.Rounds ? clean : [.. Enumerable.Range(0, o.Rounds)];
        double[] Used(double[] all) => [.. used.Select(r => all[r])];
        double rooflineGBps = Median(Used(samples["roofline"]));
        long fileBytes = FileBytesPerToken(gguf);
        EngineResult Result(string name, EngineWorker.Client? worker, long bytesPerToken)
        {
            var s = Used(samples[name]);
            double median = Median(s);
            return new EngineResult(name, median, Quantile(s, 0.25), Quantile(s, 0.75), samples[name],
                worker?.LoadMs / 1000, worker is null ? null : Math.Max(worker.FinalPeakKb, worker.LoadPeakKb) / 1024.0,
                bytesPerToken > 0 ? 100 * bytesPerToken * median / (rooflineGBps * 1e9) : null);
        }
        var engines = new List<EngineResult>
        {
            Result("caprese", caprese, caprese.WeightBytesPerToken),
            Result("llama.cpp", llama, fileBytes),
        };
        if (runc)
            engines.Add(Result("run.c", null, fileBytes));
        string? note = dtype == "q8_0" ? "Caprese has no q8_0 kernels: it dequantises the file and decodes with f16 matrices" : null;
        return new PeerRow(shape.Name, shape.Description, dtype, gguf, runc ? files.Llama2c : null, caprese.WeightBytesPerToken, fileBytes,
            tokens, context, rooflineGBps, samples["roofline"], engines, check, note, Median(Used(foreignCores)), foreignCores, used);
    }

    private static GreedyCheck Check(Options o, PeerShape shape, EngineWorker.Client caprese, EngineWorker.Client llama, int[] ours, int[] theirs)
    {
        int n = o.CheckTokens, vocab = shape.Config.Vocab;
        // BOS, then tokens spread over the vocabulary (a fixed pseudo-random walk).
        int[] forced = [DecodeEngines.Bos, .. Enumerable.Range(1, n - 1).Select(i => (int)((i * 7919L + 13) % vocab))];
        var a = caprese.ForcedLogits(forced, vocab);
        var b = llama.ForcedLogits(forced, vocab);
        int[] argA = [.. a.Select(r => System.Numerics.Tensors.TensorPrimitives.IndexOfMax(r))];
        int[] argB = [.. b.Select(r => System.Numerics.Tensors.TensorPrimitives.IndexOfMax(r))];
        double maxDiff = 0, maxAbs = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < vocab; j++)
            {
                maxDiff = Math.Max(maxDiff, Math.Abs(a[i][j] - b[i][j]));
                maxAbs = Math.Max(maxAbs, Math.Abs(a[i][j]));
            }
        int free = Math.Min(n, ours.Length);
        return new GreedyCheck(argA.SequenceEqual(argB), n, forced, argA, argB, maxDiff / Math.Max(maxAbs, 1e-30), ours[..free], theirs[..free]);
    }

    /// <summary>Weight bytes a step reads from the file as stored: everything but the embedding table, one row of it, unless it is also the classifier.</summary>
    private static long FileBytesPerToken(string path)
    {
        using var gguf = GgufFile.Open(path);
        long all = gguf.Tensors.Sum(t => t.ByteLength);
        var embedding = gguf.GetTensor("token_embd.weight");
        return gguf.TryGetTensor("output.weight", out _) ? all - embedding.ByteLength + embedding.ByteLength / embedding.Shape[0] : all;
    }

    private static Options Parse(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        string[] known = ["--shapes", "--dtypes", "--rounds", "--tokens", "--threads", "--context", "--runc", "--cache", "--roofline-mib", "--check-tokens", "--quiet-below", "--quiet-wait", "--json", "--markdown", "--note"];
        for (int i = 0; i < args.Length; i++)
        {
            if (!known.Contains(args[i]))
                throw new ArgumentException($"unknown option '{args[i]}'");
            if (i + 1 >= args.Length)
                throw new ArgumentException($"{args[i]} needs a value");
            values[args[i]] = args[++i];
        }
        string[] List(string key, string fallback) => (values.GetValueOrDefault(key) ?? fallback).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        int Int(string key, int fallback, int min)
        {
            if (!values.TryGetValue(key, out var s))
                return fallback;
            if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) || v < min)
                throw new ArgumentException($"{key} must be an integer ≥ {min}, got '{s}'");
            return v;
        }
        var shapes = List("--shapes", "stories260K,110M");
        foreach (var s in shapes.Where(s => !PeerModels.ShapeNames.Contains(s)))
            throw new ArgumentException($"unknown shape '{s}' (known: {string.Join(", ", PeerModels.ShapeNames)})");
        var dtypes = List("--dtypes", "f32,f16");
        foreach (var d in dtypes.Where(d => !PeerModels.DTypes.ContainsKey(d)))
            throw new ArgumentException($"unknown dtype '{d}' (known: {string.Join(", ", PeerModels.DTypes.Keys)})");
        if (shapes.Length == 0 || dtypes.Length == 0)
            throw new ArgumentException("--shapes and --dtypes need at least one entry");
        // --tokens N or N,shape=M,...: a default and per-shape overrides (a cache-resident model needs more tokens for run.c's ms timer).
        int tokens = 32;
        var tokensByShape = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var item in List("--tokens", "32"))
        {
            var kv = item.Split('=', 2);
            if (!int.TryParse(kv[^1], NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) || n < 1)
                throw new ArgumentException($"--tokens: '{item}' is not N or shape=N with N ≥ 1");
            if (kv.Length == 1)
                tokens = n;
            else if (!PeerModels.ShapeNames.Contains(kv[0]))
                throw new ArgumentException($"--tokens: unknown shape '{kv[0]}'");
            else
                tokensByShape[kv[0]] = n;
        }
        int? context = values.ContainsKey("--context") ? Int("--context", 0, 2) : null;
        int checkTokens = Int("--check-tokens", 16, 2);
        foreach (var s in shapes)
        {
            int t = tokensByShape.GetValueOrDefault(s, tokens), max = PeerModels.Shape(s).Config.MaxSeqLen;
            if (t + 2 > max || context > max || checkTokens > max)
                throw new ArgumentException($"{s}'s context is {max} positions: --tokens {t} (+2), --context {context} and --check-tokens {checkTokens} must fit");
            if (context < t + 2 || context < checkTokens)
                throw new ArgumentException($"--context {context} cannot hold BOS and {t} tokens, or {checkTokens} check tokens");
        }
        string? runc = values.GetValueOrDefault("--runc");
        if (runc is not null && !File.Exists(runc))
            throw new ArgumentException($"--runc {runc}: no such file (build it: gcc -Ofast -fopenmp run.c -lm -o run)");
        return new Options(shapes, dtypes, Int("--rounds", 5, 1), tokens, tokensByShape, Int("--threads", Environment.ProcessorCount, 1), context,
            runc is null ? null : Path.GetFullPath(runc), values.GetValueOrDefault("--cache") ?? Path.Combine(Path.GetTempPath(), "caprese-peers"),
            Int("--roofline-mib", 512, 64), checkTokens, values.GetValueOrDefault("--json"), values.GetValueOrDefault("--markdown"),
            values.GetValueOrDefault("--note"), QuietBelow(values), Int("--quiet-wait", 120, 0));
    }

    private static double? QuietBelow(Dictionary<string, string> values)
    {
        if (!values.TryGetValue("--quiet-below", out var s))
            return null;
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || v <= 0)
            throw new ArgumentException($"--quiet-below must be a positive number of cores, got '{s}'");
        return v;
    }

    private static double Median(double[] v) => Quantile(v, 0.5);

    private static double Quantile(double[] values, double q)
    {
        var sorted = values.Order().ToArray();
        double at = q * (sorted.Length - 1);
        int lo = (int)Math.Floor(at), hi = (int)Math.Ceiling(at);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
    }

    private static string LoadAverage()
    {
        try { return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
        catch (IOException) { return "unknown"; }
    }

    private static string CpuName()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
                if (line.StartsWith("model name", StringComparison.Ordinal) && line.IndexOf(':') is > 0 and var colon)
                    return line[(colon + 1)..].Trim();
        }
        catch (IOException)
        {
        }
        return System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString();
    }

    /// <summary>The peer package versions this build references (the csproj stamps them into the assembly's metadata).</summary>
    private static string LlamaSharpVersion()
    {
        string Version(string package) => typeof(DecodePeersCommand).Assembly.GetCustomAttributes<System.Reflection.AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == package)?.Value ?? "unknown";
        return $"LLamaSharp {Version("LLamaSharp")} + LLamaSharp.Backend.Cpu {Version("LLamaSharp.Backend.Cpu")}";
    }

    /// <summary>The source commit (short), "-dirty" with uncommitted tracked changes; "unknown" without git.</summary>
    private static string GitRevision()
    {
        string? Git(params string[] args)
        {
            try
            {
                var start = new ProcessStartInfo("git") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = AppContext.BaseDirectory };
                foreach (var a in args)
                    start.ArgumentList.Add(a);
                using var p = Process.Start(start);
                if (p is null)
                    return null;
                string output = p.StandardOutput.ReadToEnd().Trim();
                p.StandardError.ReadToEnd();
                return p.WaitForExit(10_000) && p.ExitCode == 0 ? output : null;
            }
            catch (System.ComponentModel.Win32Exception)
            {
                return null;
            }
        }
        string? head = Git("rev-parse", "--short=12", "HEAD");
        if (string.IsNullOrEmpty(head))
            return "unknown";
        return Git("status", "--porcelain", "--untracked-files=no") is { Length: > 0 } ? head + "-dirty" : head;
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
