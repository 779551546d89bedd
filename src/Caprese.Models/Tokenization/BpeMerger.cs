namespace Caprese.Models.Tokenization;

/// <summary>
/// Greedy BPE merging: repeatedly merge the adjacent pair whose concatenated piece is in the
/// vocabulary with the highest score, the leftmost pair on ties. A priority queue with lazy
/// invalidation gives the same result as rescanning all pairs each round, in O(n log n).
/// </summary>
internal static class BpeMerger
{
    public static List<int> Merge(List<int> symbols, string[] pieces, float[] scores, Dictionary<string, int> idByPiece)
    {
        int n = symbols.Count;
        var ids = symbols.ToArray();
        var prev = new int[n];
        var next = new int[n];
        for (int i = 0; i < n; i++)
        {
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }

        // Priority: higher score first, then smaller left position (positions keep their order as nodes merge).
        var queue = new PriorityQueue<Candidate, (float NegScore, int Left)>();
        void Consider(int left)
        {
            if (left < 0) return;
            int right = next[left];
            if (right < 0) return;
            if (idByPiece.TryGetValue(string.Concat(pieces[ids[left]], pieces[ids[right]]), out int merged))
                queue.Enqueue(new Candidate(left, right, ids[left], ids[right], merged), (-scores[merged], left));
        }

        for (int i = 0; i < n - 1; i++)
            Consider(i);

        while (queue.TryDequeue(out var c, out _))
        {
            // Skip candidates that an earlier merge made stale.
            if (ids[c.Left] != c.LeftId || next[c.Left] != c.Right || ids[c.Right] != c.RightId)
                continue;
            ids[c.Left] = c.MergedId;
            ids[c.Right] = -1;
            int after = next[c.Right];
            next[c.Left] = after;
            if (after >= 0) prev[after] = c.Left;
            Consider(prev[c.Left]);
            Consider(c.Left);
        }

        var result = new List<int>(n);
        for (int i = n > 0 ? 0 : -1; i >= 0; i = next[i])
            result.Add(ids[i]);
        return result;
    }

    private readonly record struct Candidate(int Left, int Right, int LeftId, int RightId, int MergedId);
}
