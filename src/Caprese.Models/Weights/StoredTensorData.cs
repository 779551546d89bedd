using Caprese.Interop;
using Caprese.Models.Formats;

namespace Caprese.Models.Weights;

/// <summary>
/// A tensor's bytes exactly as stored, when they are f32, f16 or bf16 in mapped host memory: uploads in the same
/// type copy them straight (no f32 round trip), and the CPU backend uses them in place.
/// </summary>
/// <param name="Type">The stored element type.</param>
/// <param name="Pointer">First byte; valid while the file is mapped.</param>
/// <param name="ByteLength">Bytes of the whole tensor.</param>
/// <param name="File">The mapping, to <see cref="MappedFile.Retain"/> while the bytes are used in place.</param>
internal readonly record struct StoredTensorData(DType Type, nint Pointer, long ByteLength, MappedFile File);

/// <summary>A weight tensor that can hand out its stored bytes (see <see cref="StoredTensorData"/>).</summary>
internal interface IStoredWeightTensor : IWeightTensor
{
    /// <summary>The stored bytes, or null when the stored type is not f32, f16 or bf16 (e.g. Q8_0).</summary>
    StoredTensorData? Stored { get; }
}
