using Caprese.Interop.Native;

namespace Caprese.Interop.Tests;

/// <summary>The resolver tries every location and, when all fail, says what it tried and why each failed.</summary>
public class ResolverTests
{
    [Fact]
    public void Candidates_AreOrderedAndDeduplicated()
    {
        string dir = Path.Combine(Path.GetTempPath(), "caprese-app");
        var paths = NativeLibraryResolver.CandidatePaths("/opt/x/libcaprese.so", dir, dir);
        Assert.Equal(
        [
            "/opt/x/libcaprese.so",
            Path.Combine(dir, "libcaprese.so"),
            Path.Combine(dir, "runtimes/linux-x64/native", "libcaprese.so"),
        ], paths);
    }

    [Fact]
    public void Failure_ListsEveryPathTriedWithItsError()
    {
        string root = Path.Combine(Path.GetTempPath(), "caprese-resolver-" + Guid.NewGuid().ToString("N"));
        string notALibrary = Path.Combine(root, "asm", "libcaprese.so");
        Directory.CreateDirectory(Path.GetDirectoryName(notALibrary)!);
        File.WriteAllText(notALibrary, "this is not an ELF file");
        try
        {
            string bogusEnv = Path.Combine(root, "nowhere", "libcaprese.so");
            nint h = NativeLibraryResolver.Probe(bogusEnv, Path.Combine(root, "app"), Path.Combine(root, "asm"),
                _ => throw new DllNotFoundException("system search failed"), out string? loaded, out string report);

            Assert.Equal(0, h);
            Assert.Null(loaded);
            Assert.Contains($"{bogusEnv} (from CAPRESE_NATIVE_LIBRARY): file not found", report);
            Assert.Contains(Path.Combine(root, "app", "libcaprese.so") + ": file not found", report);
            Assert.Contains(Path.Combine(root, "app", "runtimes/linux-x64/native", "libcaprese.so") + ": file not found", report);
            Assert.Contains(Path.Combine(root, "asm", "runtimes/linux-x64/native", "libcaprese.so") + ": file not found", report);
            // The file exists but is not a library: the loader's own error is kept.
            Assert.Matches(@"asm/libcaprese\.so: .*\S", report);
            Assert.DoesNotContain(notALibrary + ": file not found", report);
            Assert.Contains("default search for \"caprese\": system search failed", report);
            Assert.Contains("CAPRESE_NATIVE_LIBRARY", report);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void EnvironmentPath_WinsWhenItLoads()
    {
        string real = CapreseLibrary.NativeLibraryPath; // the library this test run already loaded
        Assert.True(File.Exists(real), real);
        nint h = NativeLibraryResolver.Probe(real, "/nonexistent", null, null, out string? loaded, out string report);
        Assert.NotEqual(0, h);
        Assert.Equal(Path.GetFullPath(real), loaded);
        Assert.Equal("", report);
    }

    [Fact]
    public void TestRun_LoadedTheLibraryFromTheOutputFolder()
    {
        if (Environment.GetEnvironmentVariable(NativeLibraryResolver.EnvironmentVariable) is { Length: > 0 })
            Assert.Skip("CAPRESE_NATIVE_LIBRARY is set for this run.");
        Assert.Equal(Path.Combine(AppContext.BaseDirectory, "libcaprese.so"), CapreseLibrary.NativeLibraryPath);
    }
}
