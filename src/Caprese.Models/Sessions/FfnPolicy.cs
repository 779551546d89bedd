using Caprese.Models.Adapters;
using Caprese.Models.Sparsity;
using Caprese.Models.Transformer;

namespace Caprese.Models.Sessions;

/// <summary>
/// How a session's decode steps run the FFN: dense, or a contextual-sparsity method (<see cref="Sparsity"/>), with or
/// without Caprese adapters trained for exactly that sparsity. Prefill and verification passes are always dense.
/// Immutable: sessions with different policies share one model and its weights.
/// </summary>
/// <param name="Sparsity">The sparsity of decode steps (<see cref="SparsityOptions.Dense"/>: none).</param>
/// <param name="Adapters">Low-rank adapters for the sparsified layers, or null.</param>
/// <param name="AdapterForm">Merged into the sparse kernel as extra neurons, or run as a separate branch.</param>
public sealed record FfnPolicy(SparsityOptions Sparsity, AdapterSet? Adapters = null, AdapterForm AdapterForm = AdapterForm.Merged)
{
    /// <summary>Dense decode.</summary>
    public static FfnPolicy Dense { get; } = new(SparsityOptions.Dense);

    /// <summary>Whether decode steps run every FFN dense (no sparsity method, no adapters).</summary>
    public bool IsDense => Sparsity.Method == SparsityMethod.None && Adapters is null;

    /// <summary>The policy's registered method (<see cref="FfnMethods"/>).</summary>
    public FfnMethod Method => FfnMethods.Of(Sparsity.Method);

    /// <summary>A short label: "dense", "griffin 50% layers 0-3", "cats 50% layers 0-7 + caprese r10 (merged)".</summary>
    public string Describe(int layers)
    {
        if (Sparsity.Method == SparsityMethod.None)
            return "dense";
        var (first, end) = Sparsity.LayerRange(layers);
        string text = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{Method.Name} {Sparsity.Sparsity * 100:F0}% layers {first}-{end - 1}");
        return Adapters is null ? text : $"{text} + caprese r{Adapters.Rank} ({AdapterForm.ToString().ToLowerInvariant()})";
    }

    /// <exception cref="ArgumentException">The sparsity or the adapters do not fit <paramref name="config"/> (the message says how).</exception>
    public void Validate(ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(Sparsity);
        Sparsity.Validate(config.Layers);
        if (!Enum.IsDefined(AdapterForm))
            throw new ArgumentOutOfRangeException(nameof(AdapterForm), AdapterForm, "unknown adapter form");
        if (Adapters is null)
            return;
        if (!Method.TakesAdapters)
            throw new ArgumentException($"{Method.Name} decodes without the sparse FFN kernel and takes no adapters", nameof(Adapters));
        if (Adapters.MismatchWith(config, Sparsity) is { } problem)
            throw new ArgumentException(problem, nameof(Adapters));
    }
}
