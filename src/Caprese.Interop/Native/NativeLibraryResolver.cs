using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;

namespace Caprese.Interop.Native;

/// <summary>
/// Finds libcaprese for this assembly's imports. The default probing hides why a load failed
/// (a missing dependency looks like a missing file), so every candidate is tried explicitly
/// and, if none loads, the exception lists each path with the loader's own error.
/// </summary>
internal static class NativeLibraryResolver
{
    internal const string EnvironmentVariable = "CAPRESE_NATIVE_LIBRARY";
    internal const string FileName = "libcaprese.so";
    internal const string RuntimesSubfolder = "runtimes/linux-x64/native";

    private static readonly object Gate = new();
    private static bool _registered;

    /// <summary>Full path of the library that was loaded (null before the first call).</summary>
    internal static string? LoadedPath { get; private set; }

    internal static void EnsureRegistered()
    {
        lock (Gate)
        {
            if (_registered) return;
            NativeLibrary.SetDllImportResolver(typeof(NativeLibraryResolver).Assembly, Resolve);
            _registered = true;
        }
    }

    // Assembly.Location is "" inside a single-file app; that case is handled (no assembly folder).
    [UnconditionalSuppressMessage("SingleFile", "IL3000", Justification = "Empty location is handled.")]
    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (libraryName != NativeMethods.LibraryName) return 0;
        string? assemblyDir = string.IsNullOrEmpty(assembly.Location) ? null : Path.GetDirectoryName(assembly.Location);
        nint handle = Probe(Environment.GetEnvironmentVariable(EnvironmentVariable), AppContext.BaseDirectory,
            assemblyDir, name => NativeLibrary.Load(name, assembly, searchPath), out string? loaded, out string report);
        if (handle == 0) throw new DllNotFoundException(report);
        LoadedPath = loaded;
        return handle;
    }

    /// <summary>The files to try, in order, without duplicates.</summary>
    internal static IReadOnlyList<string> CandidatePaths(string? envPath, string baseDirectory, string? assemblyDirectory)
    {
        var paths = new List<string>();
        void Add(string? p)
        {
            if (string.IsNullOrWhiteSpace(p)) return;
            string full = Path.GetFullPath(p);
            if (!paths.Contains(full, StringComparer.Ordinal)) paths.Add(full);
        }
        Add(envPath);
        Add(Path.Combine(baseDirectory, FileName));
        Add(Path.Combine(baseDirectory, RuntimesSubfolder, FileName));
        if (assemblyDirectory is not null)
        {
            Add(Path.Combine(assemblyDirectory, FileName));
            Add(Path.Combine(assemblyDirectory, RuntimesSubfolder, FileName));
        }
        return paths;
    }

    /// <summary>
    /// Tries every candidate path, then <paramref name="loadByName"/> (the runtime's default
    /// search for "caprese"). Returns the handle, or 0 with <paramref name="report"/> naming
    /// every attempt and its error.
    /// </summary>
    internal static nint Probe(string? envPath, string baseDirectory, string? assemblyDirectory,
        Func<string, nint>? loadByName, out string? loadedPath, out string report)
    {
        var failures = new StringBuilder();
        foreach (string path in CandidatePaths(envPath, baseDirectory, assemblyDirectory))
        {
            string origin = envPath is not null && path == Path.GetFullPath(envPath) ? $" (from {EnvironmentVariable})" : "";
            if (!File.Exists(path))
            {
                failures.Append("\n  ").Append(path).Append(origin).Append(": file not found");
                continue;
            }
            try
            {
                nint h = NativeLibrary.Load(path);
                loadedPath = path;
                report = string.Empty;
                return h;
            }
            catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
            {
                // The file exists but dlopen refused it (missing dependency, wrong arch, ...).
                failures.Append("\n  ").Append(path).Append(origin).Append(": ").Append(e.Message);
            }
        }
        if (loadByName is not null)
        {
            try
            {
                nint h = loadByName(NativeMethods.LibraryName);
                if (h != 0)
                {
                    loadedPath = NativeMethods.LibraryName;
                    report = string.Empty;
                    return h;
                }
                failures.Append("\n  default search for \"caprese\": not found");
            }
            catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
            {
                failures.Append("\n  default search for \"caprese\": ").Append(e.Message);
            }
        }
        loadedPath = null;
        report = $"Caprese could not load its native library {FileName}. Tried:{failures}\n" +
                 $"Reference the Caprese.Native package (or build native/ with CMake), or set {EnvironmentVariable} to the full path of {FileName}.";
        return 0;
    }
}
