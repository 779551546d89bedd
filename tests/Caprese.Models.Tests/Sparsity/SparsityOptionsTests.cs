using Caprese.Models.Sparsity;

namespace Caprese.Models.Tests.Sparsity;

public sealed class SparsityOptionsTests
{
    [Fact]
    public void DefaultsFollowThePapers()
    {
        Assert.Equal((0, 3), SparsityOptions.Default(SparsityMethod.Griffin, 0.5, 6).LayerRange(6));
        Assert.Equal((0, 6), SparsityOptions.Default(SparsityMethod.Cats, 0.5, 6).LayerRange(6));
        Assert.Equal((0, 1), SparsityOptions.FirstHalf(SparsityMethod.Griffin, 0.5, 1).LayerRange(1));
    }

    [Theory]
    [InlineData(1.0, 0, null, 0)]
    [InlineData(-0.1, 0, null, 0)]
    [InlineData(double.NaN, 0, null, 0)]
    [InlineData(0.5, 6, null, 0)]
    [InlineData(0.5, 2, 5, 0)]
    [InlineData(0.5, 0, 0, 0)]
    [InlineData(0.5, 0, null, -1)]
    public void OutOfRangeFieldsAreRejected(double sparsity, int first, int? count, int rho)
    {
        var options = new SparsityOptions(SparsityMethod.Griffin, sparsity, first, count, rho);
        Assert.Throws<ArgumentOutOfRangeException>(() => options.Validate(6));
    }
}
