using System.CommandLine;
using Caprese.Interop;
using Caprese.Models;

namespace Caprese.Cli.Commands;

/// <summary>Where a command runs its model: <c>--backend</c>, <c>--device</c>, <c>--threads</c>, checked alike everywhere.</summary>
internal sealed class BackendArguments
{
    /// <summary>The <c>--backend</c> values, one per <see cref="BackendKind"/>.</summary>
    public static IReadOnlyList<string> Names { get; } = ["cpu", "cuda", "cuda-sim"];

    public const string DefaultDescription =
        "cpu, cuda, or cuda-sim (the CUDA kernels simulated on the CPU: slow, for testing); cuda never falls back to the CPU";

    public BackendArguments(string backendDescription = DefaultDescription)
    {
        Backend = CreateOption(backendDescription);
        Threads.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 0) r.AddError("--threads must be >= 0"); });
        Device.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 0) r.AddError("--device must be >= 0"); });
    }

    public Option<string> Backend { get; }
    public Option<int> Device { get; } = new("--device", "-d") { Description = "CUDA device ordinal", DefaultValueFactory = _ => 0 };
    public Option<int> Threads { get; } = new("--threads") { Description = "CPU worker threads (0 = one per hardware thread)", DefaultValueFactory = _ => 0 };

    public IEnumerable<Option> All => [Backend, Device, Threads];

    /// <summary>The load options these flags ask for (weights f32, model's own context: adjust with <c>with</c>).</summary>
    public ModelLoadOptions LoadOptions(ParseResult parse) =>
        new(Parse(parse.GetValue(Backend)!), parse.GetValue(Device), NumThreads: parse.GetValue(Threads));

    /// <summary>A <c>--backend</c> option (default cpu) that accepts exactly <see cref="Names"/>, for commands that need no --device or --threads.</summary>
    public static Option<string> CreateOption(string description = DefaultDescription)
    {
        var option = new Option<string>("--backend", "-b") { Description = description, DefaultValueFactory = _ => "cpu" };
        option.AcceptOnlyFromAmong([.. Names]);
        return option;
    }

    /// <summary>The backend a <c>--backend</c> value names (the option has already refused any other value).</summary>
    public static BackendKind Parse(string name) => name switch
    {
        "cpu" => BackendKind.Cpu,
        "cuda" => BackendKind.Cuda,
        "cuda-sim" => BackendKind.CudaSim,
        _ => throw new ArgumentException($"--backend must be one of {string.Join(", ", Names)}, not '{name}'", nameof(name)),
    };

    /// <summary>The <c>--backend</c> value of <paramref name="backend"/>, as printed and written to JSON.</summary>
    public static string Name(BackendKind backend) => backend switch
    {
        BackendKind.Cpu => "cpu",
        BackendKind.Cuda => "cuda",
        BackendKind.CudaSim => "cuda-sim",
        _ => backend.ToString().ToLowerInvariant(),
    };

    /// <summary>
    /// Why a command cannot run on <paramref name="backend"/>'s device <paramref name="device"/>, as the message of its one
    /// "error:" line and its exit code; null when it can. Checked before any model is built, so that a missing backend or
    /// a device ordinal past the last one is an error, not a stack trace. When CUDA is asked for and only the simulator is
    /// there, the message says so: the simulator never stands in for cuda (its pace is nothing like a GPU's).
    /// </summary>
    public static (string Message, int ExitCode)? Unusable(BackendKind backend, int device)
    {
        if (!CapreseLibrary.IsBackendAvailable(backend, out string reason))
        {
            if (backend == BackendKind.Cuda && CapreseLibrary.IsBackendAvailable(BackendKind.CudaSim, out _))
                reason += "\n(the CUDA simulator is available as --backend cuda-sim: the same kernels on the CPU, far slower; it is never used in place of cuda)";
            return (reason, ExitCodes.BackendUnavailable);
        }
        if (backend.UsesDeviceMemory() && CapreseLibrary.DeviceCount(backend) is var count && (device < 0 || device >= count))
            return ($"--device {device}: the {Name(backend)} backend has {count} device{(count == 1 ? "" : "s")} (see `caprese info`)", ExitCodes.BadArguments);
        return null;
    }

    /// <summary>
    /// One line on stderr before a command starts work on the simulator, so that its pace (the CUDA kernels run
    /// one simulated thread at a time on the CPU) is not mistaken for a hang.
    /// </summary>
    public static void NoteIfSimulator(BackendKind backend, TextWriter stderr)
    {
        if (backend.IsSimulator())
            stderr.WriteLine("note: --backend cuda-sim runs the CUDA kernels on the CPU through the simulator, far slower than --backend cpu (for testing the CUDA code path)");
    }

    /// <summary><see cref="Name"/>, and for the simulator what it is, so that nobody takes its figures for a GPU's.</summary>
    public static string Describe(BackendKind backend) =>
        backend.IsSimulator() ? $"{Name(backend)} (CUDA simulator: the CUDA kernels run on the CPU, slow)" : Name(backend);
}
