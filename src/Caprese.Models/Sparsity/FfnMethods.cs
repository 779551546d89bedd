using Caprese.Interop;
using Caprese.Models.Transformer;

namespace Caprese.Models.Sparsity;

/// <summary>One FFN method as the CLI, adapter files, calibration and training see it.</summary>
/// <param name="Name">The command-line and file spelling (lower case).</param>
/// <param name="Method">The enum value options carry.</param>
/// <param name="Summary">One line for help texts.</param>
/// <param name="TakesAdapters">Whether Caprese adapters can repair it (it runs through the fused sparse FFN kernel).</param>
/// <param name="CalibratesFromText">Whether its thresholds can be calibrated once from text (<c>--calibration</c>).</param>
public sealed record FfnMethod(string Name, SparsityMethod Method, string Summary, bool TakesAdapters, bool CalibratesFromText)
{
    /// <summary>Makes one session's state for the given options; null for dense.</summary>
    internal Func<CapreseContext, TransformerModel, SparsityOptions, IFfnPolicyState?> CreateState { get; init; } = (_, _, _) => null;
}

/// <summary>The FFN methods, registered once: adding a method is one entry here and one <see cref="IFfnPolicyState"/>.</summary>
public static class FfnMethods
{
    /// <summary>Every method, dense first.</summary>
    public static IReadOnlyList<FfnMethod> All { get; } =
    [
        new("none", SparsityMethod.None, "dense FFN", TakesAdapters: false, CalibratesFromText: false),
        new("griffin", SparsityMethod.Griffin, "prompt-fixed top-k neurons from the dense prefill's flocking scores", TakesAdapters: true, CalibratesFromText: false)
        {
            CreateState = (context, model, options) => new SparseFfnDecoder(context, model, options),
        },
        new("cats", SparsityMethod.Cats, "per-layer threshold on |act(x·Wg)|, applied per token in the kernel", TakesAdapters: true, CalibratesFromText: true)
        {
            CreateState = (context, model, options) => new SparseFfnDecoder(context, model, options),
        },
        new("teal", SparsityMethod.Teal, "input-magnitude thresholds per linear input (host mask: quality only)", TakesAdapters: false, CalibratesFromText: true)
        {
            CreateState = (_, model, options) => new TealMasker(model.Config, options),
        },
    ];

    /// <summary>The method names, as the command line accepts them.</summary>
    public static IReadOnlyList<string> Names { get; } = [.. All.Select(m => m.Name)];

    /// <summary>The entry of <paramref name="method"/>.</summary>
    public static FfnMethod Of(SparsityMethod method) =>
        All.FirstOrDefault(m => m.Method == method) ?? throw new ArgumentOutOfRangeException(nameof(method), method, "unknown sparsity method");

    /// <summary>The entry named <paramref name="name"/> (case-insensitive), or null.</summary>
    public static FfnMethod? ByName(string? name) =>
        All.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase));
}
