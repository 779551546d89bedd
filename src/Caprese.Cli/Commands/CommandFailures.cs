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

    /// <summary>What --weights accepts when loading a model file: its stored type, or a conversion.</summary>
    public static readonly string[] LoadWeightNames = ["stored", .. WeightNames];

    /// <summary>Description of a model-loading --weights option.</summary>
    public const string LoadWeightsDescription =
        "Storage type of the weight matrices: stored (the file's own f32/f16/bf16, used in place on the CPU; f16 for quantised files), or f32, f16, bf16 to convert";

    /// <summary>The type a model-loading --weights value names; null for "stored".</summary>
    public static DType? ParseLoadWeights(string name) => name == "stored" ? null : ParseWeights(name);

    /// <summary>The --weights spelling of a type.</summary>
    public static string WeightsName(DType type) => type.ToString().ToLowerInvariant();
}
