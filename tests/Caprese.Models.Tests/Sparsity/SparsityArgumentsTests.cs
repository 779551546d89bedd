using Caprese.Models.Sparsity;

namespace Caprese.Models.Tests.Sparsity;

public sealed class SparsityArgumentsTests
{
    [Fact]
    public void FlagsParseWithMethodDefaults()
    {
        Assert.Equal(new SparsityOptions(SparsityMethod.Griffin, 0.5, 0, 3), SparsityArguments.Parse("griffin", 0.5, null, 6));
        Assert.Equal(new SparsityOptions(SparsityMethod.Cats, 0.25), SparsityArguments.Parse("CATS", 0.25, null, 6));
        Assert.Equal(new SparsityOptions(SparsityMethod.Griffin, 0.5), SparsityArguments.Parse("griffin", 0.5, "all", 6));
        Assert.Equal(new SparsityOptions(SparsityMethod.Cats, 0.5, 0, 3), SparsityArguments.Parse("cats", 0.5, "first-half", 6));
        Assert.Equal(SparsityMethod.None, SparsityArguments.Parse("none", 0.5, null, 6).Method);
        Assert.Equal(SparsityMethod.Teal, SparsityArguments.Parse("teal", 0, null, 6).Method);
    }

    [Theory]
    [InlineData("sparse", 0.5, null, "--sparsity-method")]
    [InlineData("griffin", 1.0, null, "--sparsity")]
    [InlineData("griffin", -0.5, null, "--sparsity")]
    [InlineData("cats", 0.5, "last-half", "--sparse-layers")]
    public void BadValuesNameTheFlag(string method, double sparsity, string? layers, string flag)
    {
        var e = Assert.Throws<ArgumentException>(() => SparsityArguments.Parse(method, sparsity, layers, 6));
        Assert.StartsWith(flag + " must", e.Message);
    }
}
