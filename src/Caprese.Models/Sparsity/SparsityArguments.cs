namespace Caprese.Models.Sparsity;

/// <summary>Command-line spellings of <see cref="SparsityOptions"/> (<c>--sparsity-method</c>, <c>--sparsity</c>, <c>--sparse-layers</c>).</summary>
public static class SparsityArguments
{
    /// <summary>The accepted <c>--sparsity-method</c> names (<see cref="FfnMethods"/>).</summary>
    public static readonly string[] Methods = [.. FfnMethods.Names];

    /// <summary>The methods Caprese adapters repair (the sparse FFN kernel's): what training and drafts accept.</summary>
    public static readonly string[] AdapterMethods = [.. FfnMethods.All.Where(m => m.TakesAdapters).Select(m => m.Name)];
    public static readonly string[] LayerChoices = ["all", "first-half"];

    /// <summary>The options for a model of <paramref name="layers"/> layers; <paramref name="sparseLayers"/> null = the method's default.</summary>
    /// <exception cref="ArgumentException">A value is not one of the accepted spellings or out of range; the message names the flag.</exception>
    public static SparsityOptions Parse(string method, double sparsity, string? sparseLayers, int layers)
    {
        var m = FfnMethods.ByName(method)?.Method
            ?? throw new ArgumentException($"--sparsity-method must be one of {string.Join(", ", Methods)}, not '{method}'", nameof(method));
        if (!(sparsity >= 0 && sparsity < 1))
            throw new ArgumentException($"--sparsity must be in [0, 1), not {sparsity}", nameof(sparsity));
        return sparseLayers?.ToLowerInvariant() switch
        {
            null => SparsityOptions.Default(m, sparsity, layers),
            "all" => new SparsityOptions(m, sparsity),
            "first-half" => SparsityOptions.FirstHalf(m, sparsity, layers),
            _ => throw new ArgumentException($"--sparse-layers must be one of {string.Join(", ", LayerChoices)}, not '{sparseLayers}'", nameof(sparseLayers)),
        };
    }
}
