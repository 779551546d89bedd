namespace Caprese.Models.Sparsity;

/// <summary>
/// Contextual sparsity for decode. Prefill always runs dense; only decode steps run the FFN of
/// layers FirstLayer .. FirstLayer + LayerCount - 1 through <c>caprese_sparse_ffn</c>.
/// </summary>
/// <param name="Method">The method; <see cref="SparsityMethod.None"/> decodes densely.</param>
/// <param name="Sparsity">Target fraction of FFN neurons skipped, in [0, 1).</param>
/// <param name="FirstLayer">First sparsified layer.</param>
/// <param name="LayerCount">Number of sparsified layers; null = every layer from <paramref name="FirstLayer"/> on.</param>
/// <param name="GriffinReselectEvery">GRIFFIN ρ: every ρ-th decode step runs the sparsified FFNs densely, adds that
/// token's normalised activations to the prompt's scores and re-selects the top-k; 0 = never.</param>
/// <param name="GriffinPath">How GRIFFIN's selection reaches the kernel.</param>
public sealed record SparsityOptions(
    SparsityMethod Method,
    double Sparsity = 0.5,
    int FirstLayer = 0,
    int? LayerCount = null,
    int GriffinReselectEvery = 0,
    GriffinPath GriffinPath = GriffinPath.Auto)
{
    public static SparsityOptions Dense { get; } = new(SparsityMethod.None, 0);

    /// <summary>
    /// Fixed thresholds calibrated on text (<see cref="SparsityCalibration.FromText"/>; CATS and TEAL only). When set,
    /// prefills no longer calibrate and every decode step uses these thresholds; null = each prompt's own dense prefill.
    /// It must have been made for this method, sparsity and layer range (<see cref="Validate"/> checks).
    /// </summary>
    public SparsityCalibration? Calibration { get; init; }

    /// <summary>The paper's setting per method: GRIFFIN on the first half of the layers, CATS (and TEAL) on all.</summary>
    public static SparsityOptions Default(SparsityMethod method, double sparsity, int layers) =>
        method == SparsityMethod.Griffin ? FirstHalf(method, sparsity, layers) : new(method, sparsity);

    /// <summary>Layers 0 .. layers/2 - 1 (Caprese's GRIFFIN setting); at least one layer.</summary>
    public static SparsityOptions FirstHalf(SparsityMethod method, double sparsity, int layers) =>
        new(method, sparsity, 0, Math.Max(1, layers / 2));

    /// <summary>The sparsified layer range [first, end) for a model with <paramref name="layers"/> layers.</summary>
    public (int First, int End) LayerRange(int layers)
    {
        Validate(layers);
        return (FirstLayer, LayerCount is { } n ? FirstLayer + n : layers);
    }

    /// <exception cref="ArgumentOutOfRangeException">A field is out of range for a model of <paramref name="layers"/> layers.</exception>
    /// <exception cref="ArgumentException"><see cref="Calibration"/> was made for another method, sparsity, layer range or model depth.</exception>
    public void Validate(int layers)
    {
        if (!Enum.IsDefined(Method))
            throw new ArgumentOutOfRangeException(nameof(Method), Method, "unknown sparsity method");
        if (!Enum.IsDefined(GriffinPath))
            throw new ArgumentOutOfRangeException(nameof(GriffinPath), GriffinPath, "unknown GRIFFIN path");
        if (!(Sparsity >= 0 && Sparsity < 1))
            throw new ArgumentOutOfRangeException(nameof(Sparsity), Sparsity, "sparsity must be in [0, 1)");
        if (FirstLayer < 0 || FirstLayer >= layers)
            throw new ArgumentOutOfRangeException(nameof(FirstLayer), FirstLayer, $"first sparse layer must be in 0..{layers - 1}");
        if (LayerCount is { } n && (n < 1 || FirstLayer + n > layers))
            throw new ArgumentOutOfRangeException(nameof(LayerCount), n, $"sparse layers {FirstLayer}..{FirstLayer + n - 1} exceed the model's {layers}");
        if (GriffinReselectEvery < 0)
            throw new ArgumentOutOfRangeException(nameof(GriffinReselectEvery), GriffinReselectEvery, "must be >= 0");
        if (Calibration?.MismatchWith(this, layers) is { } problem)
            throw new ArgumentException(problem, nameof(Calibration));
    }
}
