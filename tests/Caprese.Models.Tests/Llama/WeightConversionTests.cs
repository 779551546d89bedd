using Caprese.Models.Llama;

namespace Caprese.Models.Tests.Llama;

public sealed class WeightConversionTests
{
    [Theory]
    [InlineData(1.0f, 0x3F80)]
    [InlineData(-2.0f, 0xC000)]
    [InlineData(0f, 0x0000)]
    [InlineData(float.PositiveInfinity, 0x7F80)]
    public void ExactValuesConvertExactly(float value, int expected)
    {
        Assert.Equal((ushort)expected, LlamaWeights.FloatToBFloat16(value));
    }

    [Fact]
    public void BFloat16RoundsToNearestEven()
    {
        // 1 + 2^-8 lies halfway between bf16 1.0 (0x3F80, even) and 0x3F81: ties go to even.
        Assert.Equal(0x3F80, LlamaWeights.FloatToBFloat16(BitConverter.UInt32BitsToSingle(0x3F808000)));
        // Halfway between 0x3F81 (odd) and 0x3F82: rounds up to even.
        Assert.Equal(0x3F82, LlamaWeights.FloatToBFloat16(BitConverter.UInt32BitsToSingle(0x3F818000)));
        // Just above halfway rounds up.
        Assert.Equal(0x3F81, LlamaWeights.FloatToBFloat16(BitConverter.UInt32BitsToSingle(0x3F808001)));
        Assert.True(float.IsNaN(BitConverter.Int32BitsToSingle(LlamaWeights.FloatToBFloat16(float.NaN) << 16)));
    }
}
