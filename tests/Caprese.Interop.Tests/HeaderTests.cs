using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Caprese.Interop.Native;

namespace Caprese.Interop.Tests;

/// <summary>The bindings cover caprese.h exactly: every function imported and exported, every enum value mirrored.</summary>
public partial class HeaderTests
{
    private static string Header()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string path = Path.Combine(dir.FullName, "native", "include", "caprese.h");
            if (File.Exists(path)) return File.ReadAllText(path);
        }
        Assert.Skip("native/include/caprese.h not found above the test folder (tests run outside the repository).");
        return "";
    }

    [GeneratedRegex(@"CAPRESE_API\s+[\w\s\*]+?\b(caprese_\w+)\s*\(")]
    private static partial Regex FunctionRegex();

    [Fact]
    public void EveryHeaderFunction_IsImported_AndExported()
    {
        var declared = FunctionRegex().Matches(Header()).Select(m => m.Groups[1].Value).ToHashSet();
        var imported = typeof(NativeMethods).GetMethods(BindingFlags.Static | BindingFlags.NonPublic)
            .Where(m => m.GetCustomAttribute<LibraryImportAttribute>() is not null)
            .Select(m => m.Name).ToHashSet();
        Assert.True(declared.Count >= 36, $"only {declared.Count} functions parsed from caprese.h");
        Assert.Empty(declared.Except(imported));
        Assert.Empty(imported.Except(declared));

        nint lib = NativeLibrary.Load(CapreseLibrary.NativeLibraryPath);
        foreach (string name in declared)
            Assert.True(NativeLibrary.TryGetExport(lib, name, out _), $"libcaprese does not export {name}");
    }

    private static Dictionary<string, int> EnumValues(string typedefName)
    {
        Match block = Regex.Match(Header(), @"typedef enum " + typedefName + @"\s*\{(?<body>[^}]*)\}");
        Assert.True(block.Success, typedefName);
        return Regex.Matches(block.Groups["body"].Value, @"(CAPRESE_\w+)\s*=\s*(\d+)")
            .ToDictionary(m => m.Groups[1].Value, m => int.Parse(m.Groups[2].Value));
    }

    [Fact]
    public void EnumValues_MatchTheHeader()
    {
        var status = EnumValues("caprese_status");
        Assert.Equal(Enum.GetValues<CapreseStatus>().Length, status.Count);
        Assert.Equal((int)CapreseStatus.Ok, status["CAPRESE_OK"]);
        Assert.Equal((int)CapreseStatus.InvalidArgument, status["CAPRESE_ERROR_INVALID_ARGUMENT"]);
        Assert.Equal((int)CapreseStatus.Shape, status["CAPRESE_ERROR_SHAPE"]);
        Assert.Equal((int)CapreseStatus.DType, status["CAPRESE_ERROR_DTYPE"]);
        Assert.Equal((int)CapreseStatus.Alignment, status["CAPRESE_ERROR_ALIGNMENT"]);
        Assert.Equal((int)CapreseStatus.OutOfMemory, status["CAPRESE_ERROR_OUT_OF_MEMORY"]);
        Assert.Equal((int)CapreseStatus.BackendUnavailable, status["CAPRESE_ERROR_BACKEND_UNAVAILABLE"]);
        Assert.Equal((int)CapreseStatus.Device, status["CAPRESE_ERROR_DEVICE"]);
        Assert.Equal((int)CapreseStatus.OutOfRange, status["CAPRESE_ERROR_OUT_OF_RANGE"]);
        Assert.Equal((int)CapreseStatus.Internal, status["CAPRESE_ERROR_INTERNAL"]);
        Assert.Equal((int)CapreseStatus.NotSupported, status["CAPRESE_ERROR_NOT_SUPPORTED"]);

        var dtype = EnumValues("caprese_dtype");
        Assert.Equal(dtype.Count, Enum.GetValues<DType>().Length);
        Assert.Equal((int)DType.F32, dtype["CAPRESE_DTYPE_F32"]);
        Assert.Equal((int)DType.F16, dtype["CAPRESE_DTYPE_F16"]);
        Assert.Equal((int)DType.BF16, dtype["CAPRESE_DTYPE_BF16"]);
        Assert.Equal((int)DType.I32, dtype["CAPRESE_DTYPE_I32"]);

        var backend = EnumValues("caprese_backend");
        Assert.Equal((int)BackendKind.Cpu, backend["CAPRESE_BACKEND_CPU"]);
        Assert.Equal(Enum.GetValues<BackendKind>().Length, backend.Count);
        Assert.Equal((int)BackendKind.Cuda, backend["CAPRESE_BACKEND_CUDA"]);
        Assert.Equal((int)BackendKind.CudaSim, backend["CAPRESE_BACKEND_CUDA_SIM"]);

        var act = EnumValues("caprese_activation");
        Assert.Equal((int)Activation.Silu, act["CAPRESE_ACTIVATION_SILU"]);
        Assert.Equal((int)Activation.GeluTanh, act["CAPRESE_ACTIVATION_GELU_TANH"]);

        var rope = EnumValues("caprese_rope_style");
        Assert.Equal((int)RopeStyle.Interleaved, rope["CAPRESE_ROPE_INTERLEAVED"]);
        Assert.Equal((int)RopeStyle.HalfSplit, rope["CAPRESE_ROPE_HALF_SPLIT"]);

        var copy = EnumValues("caprese_copy_kind");
        Assert.Equal((int)CopyKind.HostToHost, copy["CAPRESE_COPY_HOST_TO_HOST"]);
        Assert.Equal((int)CopyKind.HostToDevice, copy["CAPRESE_COPY_HOST_TO_DEVICE"]);
        Assert.Equal((int)CopyKind.DeviceToHost, copy["CAPRESE_COPY_DEVICE_TO_HOST"]);
        Assert.Equal((int)CopyKind.DeviceToDevice, copy["CAPRESE_COPY_DEVICE_TO_DEVICE"]);

        var structs = EnumValues("caprese_struct_id");
        Assert.Equal((int)NativeStructId.Tensor, structs["CAPRESE_STRUCT_TENSOR"]);
        Assert.Equal((int)NativeStructId.ContextOptions, structs["CAPRESE_STRUCT_CONTEXT_OPTIONS"]);
        Assert.Equal((int)NativeStructId.AttentionParams, structs["CAPRESE_STRUCT_ATTENTION_PARAMS"]);
        Assert.Equal((int)NativeStructId.DeviceInfo, structs["CAPRESE_STRUCT_DEVICE_INFO"]);
        Assert.Equal((int)NativeStructId.SamplingParams, structs["CAPRESE_STRUCT_SAMPLING_PARAMS"]);
    }

    [Fact]
    public void AbiVersionDefine_MatchesTheBindings()
    {
        Match m = Regex.Match(Header(), @"#define CAPRESE_ABI_VERSION (\d+)");
        Assert.True(m.Success);
        Assert.Equal(CapreseLibrary.ExpectedAbiVersion, int.Parse(m.Groups[1].Value));
    }
}
