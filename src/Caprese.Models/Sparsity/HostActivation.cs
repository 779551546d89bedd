using Caprese.Interop;

namespace Caprese.Models.Sparsity;

/// <summary>The FFN activations on the host, with the native kernels' formulas (for calibration statistics).</summary>
public static class HostActivation
{
    private static readonly float GeluScale = MathF.Sqrt(2f / MathF.PI);

    public static float Apply(Activation activation, float g) => activation switch
    {
        Activation.Silu => g / (1f + MathF.Exp(-g)),
        Activation.GeluTanh => 0.5f * g * (1f + MathF.Tanh(GeluScale * (g + 0.044715f * g * g * g))),
        _ => throw new ArgumentOutOfRangeException(nameof(activation), activation, "unknown activation"),
    };
}
