namespace Caprese.Models.Decoding;

/// <summary>Settings of the decoding methods, as the command line and the server pass them.</summary>
/// <param name="Method">A name from <see cref="DecodingMethods.Names"/>.</param>
/// <param name="DraftLength">Speculative and judge decoding: tokens drafted per verification (γ).</param>
/// <param name="KernelSize">Sirius: tokens drafted per correction pass.</param>
/// <param name="Threshold">Sirius: the full model's probability a draft needs to be kept.</param>
/// <param name="Judge">Judge decoding: the trained head.</param>
/// <param name="JudgeThreshold">Judge decoding: the head's probability above which a draft is kept.</param>
public sealed record DecodingOptions(
    string Method = "dense",
    int DraftLength = 8,
    int KernelSize = 16,
    double Threshold = 0.1,
    Judge.JudgeHead? Judge = null,
    double JudgeThreshold = 0.5);

/// <summary>The decoding methods by name: adding one is one entry here (and its <see cref="IDecodingMethod"/>).</summary>
public static class DecodingMethods
{
    private static readonly (string Name, string Summary, Func<DecodingOptions, IDecodingMethod> Create)[] Table =
    [
        ("dense", "one token per forward pass through the policy (sparse if a sparsity method is set)", _ => PlainDecoding.Instance),
        ("speculative", "the policy drafts γ tokens, the full model verifies them in one pass (exactly the full model's output)",
            o => DraftVerifyDecoding.Speculative(o.DraftLength)),
        ("sirius", "the policy decodes, the full model rewrites every kernel-size chunk and corrects tokens it gives probability < threshold",
            o => DraftVerifyDecoding.Sirius(o.KernelSize, o.Threshold)),
        ("judge", "speculative decoding that also keeps drafts a trained judge head accepts",
            o => DraftVerifyDecoding.Judge(o.Judge ?? throw new ArgumentException("judge decoding needs a judge head (--judge FILE)", nameof(o)),
                o.JudgeThreshold, o.DraftLength)),
    ];

    /// <summary>Every method name.</summary>
    public static IReadOnlyList<string> Names { get; } = [.. Table.Select(t => t.Name)];

    /// <summary>One line per method for help texts.</summary>
    public static string Describe() => string.Join(Environment.NewLine, Table.Select(t => $"{t.Name}: {t.Summary}"));

    /// <summary>The method named by <paramref name="options"/>.</summary>
    /// <exception cref="ArgumentException">An unknown name, or settings out of range (the message names them).</exception>
    public static IDecodingMethod Create(DecodingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        foreach (var entry in Table)
            if (string.Equals(entry.Name, options.Method, StringComparison.OrdinalIgnoreCase))
                return entry.Create(options);
        throw new ArgumentException($"unknown decoding method '{options.Method}'; use one of {string.Join(", ", Names)}", nameof(options));
    }
}
