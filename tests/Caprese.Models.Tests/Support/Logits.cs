namespace Caprese.Models.Tests.Support;

internal static class Logits
{
    /// <summary>|a - b| &lt;= atol + rtol |expected| for every entry.</summary>
    public static void AssertClose(float[] expected, float[] actual, float atol = 1e-3f, float rtol = 1e-3f, string what = "logit")
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            float diff = Math.Abs(expected[i] - actual[i]);
            Assert.True(diff <= atol + rtol * Math.Abs(expected[i]), $"{what} {i}: {actual[i]} vs {expected[i]} (diff {diff})");
        }
    }
}
