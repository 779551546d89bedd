using Caprese.Interop;
using Caprese.Models.Adapters;
using Caprese.Models.Decoding.Judge;
using Caprese.Models.Loading;

namespace Caprese.Cli.Commands;

/// <summary>What the commands share to turn an exception into a message and an exit code, and the --weights spellings.</summary>
internal static class CommandFailures
{
    /// <summary>
    /// Errors of the request or of the files it names, once a model is open: a bad argument (exit 1) or a model,
    /// adapter or judge file that does not fit or cannot be read (exit 3); null for anything else.
    /// </summary>
    public static int? InputErrorCode(Exception ex) => ex switch
    {
        ArgumentException => ExitCodes.BadArguments,
        ModelFormatException or AdapterMismatchException or JudgeHeadMismatchException or FileNotFoundException
            or DirectoryNotFoundException or UnauthorizedAccessException => ExitCodes.BadModel,
        _ => null,
    };

    /// <summary>
    /// The benchmarks' failures: memory (exit 4, with <paramref name="hostMemoryHint"/> for the host), a backend (2),
    /// bad arguments (1), unreadable model files (3); null for anything else.
    /// </summary>
    public static (string Message, int Code)? Classify(Exception ex, string hostMemoryHint) => ex switch
    {
        CapreseOutOfMemoryException e => ($"out of memory: {e.NativeMessage}", ExitCodes.OutOfMemory),
        OutOfMemoryException => ($"out of host memory ({hostMemoryHint})", ExitCodes.OutOfMemory),
        CapreseBackendUnavailableException e => (e.NativeMessage, ExitCodes.BackendUnavailable),
        CapreseException e => (e.Message, ExitCodes.BackendUnavailable),
        ArgumentException or NotSupportedException => (ex.Message, ExitCodes.BadArguments),
        ModelFormatException or FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException => (ex.Message, ExitCodes.BadModel),
        _ => null,
    };

    /// <summary>The storage types --weights accepts.</summary>
    public static readonly string[] WeightNames = ["f32", "f16", "bf16"];

    /// <summary>The type a --weights value names (one of <see cref="WeightNames"/>).</summary>
    public static DType ParseWeights(string name) => name switch
    {
        "f32" => DType.F32,
        "f16" => DType.F16,
        "bf16" => DType.BF16,
        _ => throw new ArgumentException($"--weights must be one of {string.Join(", ", WeightNames)}, not '{name}'"),
    };

    /// <summary>The --weights spelling of a type.</summary>
    public static string WeightsName(DType type) => type.ToString().ToLowerInvariant();
}
