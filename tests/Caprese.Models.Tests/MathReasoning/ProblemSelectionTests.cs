using Caprese.Models.MathReasoning;

namespace Caprese.Models.Tests.MathReasoning;

public sealed class ProblemSelectionTests
{
    [Fact]
    public void ShardsPartitionTheLimitedSet()
    {
        for (int count = 0; count < 12; count++)
            foreach (int? limit in new int?[] { null, 1, 5, 20 })
                for (int n = 1; n <= 4; n++)
                {
                    var all = Enumerable.Range(0, limit is { } l ? Math.Min(l, count) : count);
                    var shards = Enumerable.Range(0, n).Select(i => new ProblemSelection(limit, i, n).Indices(count)).ToList();
                    Assert.Equal(all, shards.SelectMany(s => s).Order());
                    for (int i = 0; i < n; i++)
                        Assert.All(shards[i], index => Assert.Equal(i, index % n));
                }
    }

    [Fact]
    public void LimitTakesTheFirstProblems()
    {
        Assert.Equal([0, 1, 2], new ProblemSelection(Limit: 3).Indices(10));
        Assert.Equal([1, 3], new ProblemSelection(Limit: 5, ShardIndex: 1, ShardCount: 2).Indices(10));
        Assert.Equal([0, 1], ProblemSelection.All.Indices(2));
    }

    [Theory]
    [InlineData("0/1", 0, 1)]
    [InlineData("3/4", 3, 4)]
    public void ParsesShards(string text, int index, int count) => Assert.Equal((index, count), ProblemSelection.ParseShard(text));

    [Theory]
    [InlineData("4/4")]
    [InlineData("1/0")]
    [InlineData("-1/4")]
    [InlineData("1")]
    [InlineData("1/2/3")]
    [InlineData("a/b")]
    [InlineData(" 1/2")]
    public void RefusesBadShards(string text)
    {
        var e = Assert.Throws<ArgumentException>(() => ProblemSelection.ParseShard(text));
        Assert.Contains("--shard must be i/n", e.Message);
    }

    [Fact]
    public void ValidateRefusesOutOfRangeSettings()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new ProblemSelection(Limit: 0).Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new ProblemSelection(ShardIndex: 2, ShardCount: 2).Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new ProblemSelection(ShardCount: 0).Validate());
    }
}
