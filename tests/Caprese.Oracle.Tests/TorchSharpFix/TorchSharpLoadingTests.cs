using Caprese.Tools.TorchSharpFix;
using TorchSharp;

namespace Caprese.Oracle.Tests.TorchSharpFix;

/// <summary>The build step of tools/TorchSharpFix: the library the process loads is the patched
/// copy in the output folder, and TorchSharp works with it.</summary>
public class TorchSharpLoadingTests
{
    private const string Library = "libstdc++.so.6";
    private const string Version = "GLIBCXX_3.4.32";

    [Fact]
    public void TorchOnesWorks()
    {
        using var ones = torch.ones(2, dtype: torch.float64);
        Assert.Equal(new[] { 1.0, 1.0 }, ones.data<double>().ToArray());
        using var sum = ones.sum();
        Assert.Equal(2.0, sum.item<double>());
    }

    [Fact]
    public void LoadedLibraryIsThePatchedOutputCopy()
    {
        using (torch.zeros(1)) { } // makes sure the native library is loaded
        var loaded = File.ReadLines("/proc/self/maps")
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(f => f.Length >= 6 && f[5].EndsWith("/libLibTorchSharp.so", StringComparison.Ordinal))
            .Select(f => f[5])
            .Distinct()
            .ToList();
        var path = Assert.Single(loaded);
        Assert.StartsWith(Path.GetFullPath(AppContext.BaseDirectory), path, StringComparison.Ordinal);
        Assert.True(ElfVersionPatcher.IsVersionWeak(File.ReadAllBytes(path), path, Library, Version),
            $"{path} was loaded but its {Version} requirement is not weak");
    }

    [Fact]
    public void PackageCacheCopyIsUntouched()
    {
        // The patched copy came from the NuGet cache; that original must keep its strong requirement.
        var original = PackageCacheLibrary();
        Assert.SkipUnless(File.Exists(original), $"no package cache copy at {original}");
        var image = File.ReadAllBytes(original);
        Assert.False(ElfVersionPatcher.IsVersionWeak(image, original, Library, Version));
        // And the patch applies to it, exactly once.
        Assert.Equal(ElfPatchOutcome.Patched, ElfVersionPatcher.MakeVersionWeak(image, original, Library, Version));
        Assert.Equal(ElfPatchOutcome.AlreadyWeak, ElfVersionPatcher.MakeVersionWeak(image, original, Library, Version));
        Assert.Equal(ElfPatchOutcome.NotRequired, ElfVersionPatcher.MakeVersionWeak(image, original, Library, "GLIBCXX_9.9.99"));
    }

    [Fact]
    public void FilePatchIsIdempotentAndReplacesTheFile()
    {
        var original = PackageCacheLibrary();
        Assert.SkipUnless(File.Exists(original), $"no package cache copy at {original}");
        using var dir = new Support.TempDirectory("elf");
        var copy = Path.Combine(dir.Path, "libLibTorchSharp.so");
        File.Copy(original, copy);

        Assert.Equal(ElfPatchOutcome.Patched, ElfVersionPatcher.MakeVersionWeak(copy, Library, Version));
        Assert.Equal(ElfPatchOutcome.AlreadyWeak, ElfVersionPatcher.MakeVersionWeak(copy, Library, Version));
        Assert.True(ElfVersionPatcher.IsVersionWeak(File.ReadAllBytes(copy), copy, Library, Version));
        Assert.False(File.Exists(copy + ".patching"));
        Assert.Equal(new FileInfo(original).Length, new FileInfo(copy).Length);
    }

    [Fact]
    public void OutputCopyDiffersFromThePackageOnlyInTheWeakFlag()
    {
        var patched = File.ReadAllBytes(OutputLibrary());
        var original = PackageCacheLibrary();
        Assert.SkipUnless(File.Exists(original), $"no package cache copy at {original}");
        var pristine = File.ReadAllBytes(original);
        Assert.Equal(pristine.Length, patched.Length);
        var differing = Enumerable.Range(0, pristine.Length).Where(i => pristine[i] != patched[i]).ToList();
        var at = Assert.Single(differing);
        Assert.Equal(ElfVersionPatcher.VerFlgWeak, pristine[at] ^ patched[at]);
    }

    [Theory]
    [InlineData(new byte[] { 1, 2, 3 }, "no ELF magic")]
    [InlineData(new byte[] { 0x7f, (byte)'E', (byte)'L', (byte)'F', 1, 1 }, "no ELF magic")] // shorter than a header
    public void MalformedInputsFailClearly(byte[] prefix, string expected)
    {
        var e = Assert.Throws<ElfFormatException>(() => ElfVersionPatcher.MakeVersionWeak(prefix, "x.so", Library, Version));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ThirtyTwoBitAndStrippedLibrariesAreRejected()
    {
        var image = new byte[64];
        image[0] = 0x7f; image[1] = (byte)'E'; image[2] = (byte)'L'; image[3] = (byte)'F';
        image[4] = 1; image[5] = 1;
        Assert.Contains("not a 64-bit", Assert.Throws<ElfFormatException>(() => ElfVersionPatcher.MakeVersionWeak(image, "x.so", Library, Version)).Message, StringComparison.Ordinal);
        image[4] = 2;
        Assert.Contains("no section header table", Assert.Throws<ElfFormatException>(() => ElfVersionPatcher.MakeVersionWeak(image, "x.so", Library, Version)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ElfHashMatchesKnownValue()
    {
        // readelf -V prints the hash of GLIBC_2.2.5 as 0x09691a75 in every x86-64 binary.
        Assert.Equal(0x09691a75u, ElfVersionPatcher.ElfHash("GLIBC_2.2.5"));
    }

    private static string OutputLibrary()
    {
        var candidates = new[]
        {
            Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so"),
            Path.Combine(AppContext.BaseDirectory, "libLibTorchSharp.so"),
        };
        return candidates.FirstOrDefault(File.Exists) ?? throw new FileNotFoundException("no libLibTorchSharp.so in the output folder");
    }

    private static string PackageCacheLibrary()
    {
        var root = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var version = typeof(torch).Assembly.GetName().Version!;
        return Path.Combine(root, "torchsharp", $"{version.Major}.{version.Minor}.{version.Build}", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
    }
}
