using System.Text.Encodings.Web;
using System.Text.Json;
using Caprese.IlgpuPeer;
using Caprese.Interop;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;

namespace Caprese.GpuPeers;

/// <summary>
/// caprese-gpu-peers: Caprese's CUDA sparse-FFN kernel (CapreseContext.SparseFfn) against the same op written
/// with ILGPU (Caprese.IlgpuPeer on ILGPU's CUDA accelerator), on the same random f16 weights and inputs, at
/// Llama-3.1-8B's FFN shape (and Qwen2.5-14B's, Llama-3.1-70B's with --shapes), batch M ∈ {1, 4, 16}.
/// Each case is checked (both outputs agree) before it is timed; results go to OUT.json (written atomically).
/// The GPU machine has no .NET: scripts/publish-gpu-bundle.sh publishes this self-contained and
/// scripts/gpu-validate.sh runs it when CAPRESE_GPU_PEERS is set. --cpu-smoke runs everything on the CPU
/// backend and ILGPU's CPU accelerator at a tiny shape, to check the program itself without a GPU.
/// Exit codes: 0 all cases agree, 1 a case disagreed or an error (including no CUDA device), 2 usage.
/// </summary>
internal static class Program
{
    private const string Usage =
        "usage: caprese-gpu-peers OUT.json [--shapes 8B[,14B,70B]] [--reps N (30)] [--launches L (10)] [--cpu-smoke]\n" +
        "  --cpu-smoke: Caprese's CPU backend and ILGPU's CPU accelerator at D 128, H 256 (slow: use --reps 1 --launches 1)";

    private static readonly int[] Batches = [1, 4, 16];

    private static int Main(string[] args)
    {
        string? output = null;
        string shapes = "8B";
        int reps = 30, launches = 10;
        bool smoke = false;
        try
        {
            for (int i = 0; i < args.Length; i++)
            {
                switch (args[i])
                {
                    case "--shapes": shapes = Value(args, ref i); break;
                    case "--reps": reps = int.Parse(Value(args, ref i)); break;
                    case "--launches": launches = int.Parse(Value(args, ref i)); break;
                    case "--cpu-smoke": smoke = true; break;
                    case "-h" or "--help": Console.WriteLine(Usage); return 0;
                    default:
                        if (args[i].StartsWith('-') || output is not null)
                            throw new FormatException($"unexpected argument '{args[i]}'");
                        output = args[i];
                        break;
                }
            }
            if (output is null || reps < 1 || launches < 1)
                throw new FormatException("an output path is required; --reps and --launches must be >= 1");
        }
        catch (FormatException e)
        {
            Console.Error.WriteLine($"caprese-gpu-peers: {e.Message}\n{Usage}");
            return 2;
        }
        FfnShape[] selected;
        if (smoke)
            selected = [FfnShape.Smoke];
        else
        {
            selected = shapes.Split(',').Select(n => FfnShape.Known.FirstOrDefault(s => s.Name.Equals(n.Trim(), StringComparison.OrdinalIgnoreCase))).OfType<FfnShape>().ToArray();
            if (selected.Length != shapes.Split(',').Length)
                return Error($"unknown shape in '{shapes}' (known: {string.Join(", ", FfnShape.Known.Select(s => s.Name))})", 2);
        }

        string? unavailable = Open(smoke, out CapreseContext? ctx, out Context? ilgpuContext, out Accelerator? acc);
        if (unavailable is not null)
            return Error(unavailable);

        var cases = new List<CaseResult>();
        string? error = null;
        try
        {
            using var peer = new IlgpuSparseFfn(acc!);
            foreach (FfnShape shape in selected)
            {
                Console.WriteLine($"{shape.Name}: D {shape.D}, H {shape.H}, f16; uploading random weights");
                using var bench = new ShapeBench(shape, ctx!, acc!, peer);
                foreach (int m in Batches)
                    bench.RunBatch(m, reps, launches, c =>
                    {
                        cases.Add(c);
                        Console.WriteLine(c.Agree
                            ? $"  M {c.M,2} {c.Selection,-12} s{c.Sparsity,2}%: ours {c.OursUs,8:F1} us ({c.OursWallUs:F1} wall), " +
                              $"ILGPU {c.IlgpuUs,8:F1} us, ratio {c.Ratio:F2}, {c.OursGbs:F0} / {c.IlgpuGbs:F0} GB/s"
                            : $"  M {c.M,2} {c.Selection,-12} s{c.Sparsity,2}%: DISAGREE max |diff| {c.MaxAbsDiff:G3} (max |y| {c.MaxAbsY:G3}), not timed");
                    });
            }
        }
        catch (Exception e)
        {
            error = $"{e.GetType().Name}: {e.Message}";
        }
        finally
        {
            ctx!.Dispose();
            acc!.Dispose();
            ilgpuContext!.Dispose();
        }

        var report = new
        {
            Tool = "caprese-gpu-peers",
            Date = DateTime.UtcNow.ToString("o"),
            Device = _deviceName,
            IlgpuDevice = _ilgpuDeviceName,
            NativeLibrary = CapreseLibrary.NativeLibraryPath,
            WeightType = "f16",
            Activation = "silu",
            Reps = reps,
            LaunchesPerRep = launches,
            Timing = "median over reps of us per launch, each rep `launches` back-to-back launches, no L2 flush; " +
                     "ours_us: Caprese events; ours_wall_us and ilgpu_us: Stopwatch from a synchronised start to a synchronise; " +
                     "ratio = ilgpu_us / ours_wall_us (same clock; > 1: ILGPU slower); GB/s = bytes_read / time",
            AgreementTolerance = "max |diff| <= 1e-3 max |y| + 1e-6",
            Shapes = selected,
            Cases = cases,
            Error = error,
            Ok = error is null && cases.All(c => c.Agree),
        };
        string path = Path.GetFullPath(output);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        string tmp = path + ".tmp";
        File.WriteAllText(tmp, JsonSerializer.Serialize(report, new JsonSerializerOptions
        {
            WriteIndented = true,
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // a report file, not HTML: keep ` < > + readable
            PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        }));
        File.Move(tmp, path, overwrite: true);
        Console.WriteLine($"wrote {path}");
        if (error is not null)
            return Error(error);
        if (!report.Ok)
            return Error("the two implementations disagree on some case (see the JSON)");
        return 0;
    }

    private static string? _deviceName, _ilgpuDeviceName;

    /// <summary>Both implementations on CUDA device 0 (or both on the CPU); else null objects and the reason.</summary>
    private static string? Open(bool cpu, out CapreseContext? ctx, out Context? ilgpuContext, out Accelerator? acc)
    {
        ctx = null;
        ilgpuContext = null;
        acc = null;
        BackendKind backend = cpu ? BackendKind.Cpu : BackendKind.Cuda;
        try
        {
            if (!CapreseLibrary.IsBackendAvailable(backend, out string why))
                return $"Caprese's {backend} backend is unavailable: {why}";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException or CapreseException)
        {
            return $"libcaprese could not be loaded (set CAPRESE_NATIVE_LIBRARY to a built libcaprese.so): {e.Message}";
        }
        if (cpu)
        {
            ilgpuContext = IlgpuSparseFfn.CreateCpuContext();
            acc = ilgpuContext.CreateCPUAccelerator(0);
        }
        else
        {
            acc = IlgpuSparseFfn.TryCreateCuda(out ilgpuContext, out string reason);
            if (acc is null)
                return reason;
        }
        try
        {
            ctx = CapreseContext.Create(backend);
            _deviceName = cpu ? "cpu" : CapreseLibrary.GetCudaDeviceInfo(0).Name;
            _ilgpuDeviceName = acc.Name;
            return null;
        }
        catch (CapreseException e)
        {
            ctx?.Dispose();
            acc.Dispose();
            ilgpuContext?.Dispose();
            return $"Caprese's {backend} backend could not be opened: {e.Message}";
        }
    }

    private static string Value(string[] args, ref int i) =>
        ++i < args.Length ? args[i] : throw new FormatException($"{args[i - 1]} needs a value");

    /// <summary>Prints a one-line error (the GPU scripts' logs show the last lines) and returns <paramref name="code"/>.</summary>
    private static int Error(string message, int code = 1)
    {
        string oneLine = string.Join("; ", message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Console.Error.WriteLine($"caprese-gpu-peers: error: {oneLine}");
        return code;
    }
}
