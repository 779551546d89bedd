namespace Caprese.Models.MathReasoning;

/// <summary>
/// Which problems of a file an evaluation runs: the first <see cref="Limit"/> (all when null), and of those the ones whose
/// index i has i mod <see cref="ShardCount"/> = <see cref="ShardIndex"/>. The shards 0/n … (n−1)/n of one limit
/// partition its problems, so n machines can split a run and their records be merged by index.
/// </summary>
/// <param name="Limit">At most this many problems from the start of the file; null = all.</param>
/// <param name="ShardIndex">Which shard, 0-based, below <paramref name="ShardCount"/>.</param>
/// <param name="ShardCount">How many shards, at least 1.</param>
public sealed record ProblemSelection(int? Limit = null, int ShardIndex = 0, int ShardCount = 1)
{
    /// <summary>Every problem.</summary>
    public static ProblemSelection All { get; } = new();

    /// <exception cref="ArgumentOutOfRangeException">A limit below 1, no shards, or a shard index outside [0, count).</exception>
    public void Validate()
    {
        if (Limit is < 1)
            throw new ArgumentOutOfRangeException(nameof(Limit), Limit, "the limit must be at least 1");
        ArgumentOutOfRangeException.ThrowIfLessThan(ShardCount, 1);
        if (ShardIndex < 0 || ShardIndex >= ShardCount)
            throw new ArgumentOutOfRangeException(nameof(ShardIndex), ShardIndex, $"the shard must be in 0..{ShardCount - 1}");
    }

    /// <summary>The selected indices into a file of <paramref name="count"/> problems, ascending.</summary>
    public IReadOnlyList<int> Indices(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        Validate();
        int n = Limit is { } limit ? Math.Min(limit, count) : count;
        var indices = new List<int>();
        for (int i = ShardIndex; i < n; i += ShardCount)
            indices.Add(i);
        return indices;
    }

    /// <summary>"i/n" as in <c>--shard 0/4</c>: shard i (0-based) of n.</summary>
    /// <exception cref="ArgumentException">Not two integers "i/n" with 0 ≤ i &lt; n; the message shows the form.</exception>
    public static (int Index, int Count) ParseShard(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split('/');
        if (parts.Length == 2
            && int.TryParse(parts[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int index)
            && int.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int count)
            && count >= 1 && index < count)
            return (index, count);
        throw new ArgumentException($"--shard must be i/n with 0 <= i < n (e.g. 0/4 for the first of four shards), not '{text}'");
    }
}
