using System.CommandLine;
using System.Globalization;
using Caprese.Interop;

namespace Caprese.Cli.Commands;

/// <summary>`caprese info`: library version, which backends work (and why not), CUDA devices.</summary>
internal static class InfoCommand
{
    public static Command Create()
    {
        var command = new Command("info", "Show the library version, available backends and CUDA devices");
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
        foreach (var backend in Enum.GetValues<BackendKind>())
        {
            bool ok = CapreseLibrary.IsBackendAvailable(backend, out string reason);
            o.WriteLine($"  {backend.ToString().ToLowerInvariant(),-5} {(ok ? "available" : "unavailable: " + reason)}");
        }

        int devices = CapreseLibrary.IsBackendAvailable(BackendKind.Cuda, out _) ? CapreseLibrary.CudaDeviceCount() : 0;
        o.WriteLine($"cuda devices: {devices}");
        for (int i = 0; i < devices; i++)
        {
            var d = CapreseLibrary.GetCudaDeviceInfo(i);
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  [{i}] {d.Name}, compute {d.ComputeCapability}, {d.TotalMemoryBytes / (1024.0 * 1024 * 1024):F1} GiB, {d.MultiprocessorCount} SMs, peak {d.PeakBandwidthGBps:F0} GB/s"));
        }
        return ExitCodes.Ok;
    }
}
