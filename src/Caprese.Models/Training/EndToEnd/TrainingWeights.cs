using Caprese.Interop;
using Caprese.Models.Formats;

namespace Caprese.Models.Training.EndToEnd;

/// <summary>Host-side reads of model weights for the training ops.</summary>
internal static class TrainingWeights
{
    /// <summary>Copies a weight of any dtype from a context's memory into an f32 array.</summary>
    internal static unsafe void ReadF32(CapreseContext source, TensorDesc weight, float[] destination)
    {
        var kind = source.Backend.BackendToHost();
        var bytes = new byte[weight.ByteSize];
        fixed (byte* p = bytes)
            source.Copy((nint)p, weight.Data, bytes.Length, kind);
        switch (weight.DType)
        {
            case DType.F32: TensorConvert.F32ToF32(bytes, destination); break;
            case DType.F16: TensorConvert.F16ToF32(bytes, destination); break;
            case DType.BF16: TensorConvert.BF16ToF32(bytes, destination); break;
            default: throw new NotSupportedException($"weights of type {weight.DType}");
        }
    }
}
