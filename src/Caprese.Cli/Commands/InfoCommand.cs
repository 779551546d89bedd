using System.CommandLine;
using System.Globalization;
using Caprese.Interop;

namespace Caprese.Cli.Commands;

/// <summary>`caprese info`: library version, which backends work (and why not), their devices (GPUs and the CUDA simulator's).</summary>
internal static class InfoCommand
{
    public static Command Create()
    {
        var command = new Command("info", "Show the library version, available backends and their devices (CUDA GPUs, the CUDA simulator)");
        command.SetAction(_ => Run());
        return command;
    }

    private static int Run()
    {
        var o = Console.Out;
        o.WriteLine($"caprese {typeof(InfoCommand).Assembly.GetName().Version?.ToString(3)}");
        o.WriteLine($"libcaprese {CapreseLibrary.Version} (ABI {CapreseLibrary.AbiVersion}) at {CapreseLibrary.NativeLibraryPath}");
        o.WriteLine($"default model: {DefaultModel.Path}{(File.Exists(DefaultModel.Path) ? "" : " (missing)")}");
        o.WriteLine("backends:");
        var available = new List<BackendKind>();
        foreach (var backend in Enum.GetValues<BackendKind>())
        {
            bool ok = CapreseLibrary.IsBackendAvailable(backend, out string reason);
            if (ok) available.Add(backend);
            string note = backend.IsSimulator() ? " (CUDA kernels simulated on the CPU: slow, for testing)" : "";
            o.WriteLine($"  {BackendArguments.Name(backend),-8} {(ok ? "available" + note : "unavailable: " + reason)}");
        }

        // The CUDA GPUs, then the simulator's one device, under headings that say which is which.
        foreach (var backend in Enum.GetValues<BackendKind>().Where(b => b.UsesDeviceMemory()))
        {
            int devices = available.Contains(backend) ? CapreseLibrary.DeviceCount(backend) : 0;
            o.WriteLine(backend.IsSimulator()
                ? $"cuda-sim devices (simulated: the CUDA kernels run on the CPU, slow): {devices}"
                : $"cuda devices: {devices}");
            for (int i = 0; i < devices; i++)
            {
                var d = CapreseLibrary.GetDeviceInfo(backend, i);
                o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  [{i}] {d.Name}, compute {d.ComputeCapability}, {d.TotalMemoryBytes / (1024.0 * 1024 * 1024):F1} GiB, {d.MultiprocessorCount} SMs, peak {d.PeakBandwidthGBps:F0} GB/s{(backend.IsSimulator() ? " (the profile it simulates, not this machine's)" : "")}"));
            }
        }
        return ExitCodes.Ok;
    }
}
