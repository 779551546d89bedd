namespace Caprese.Models.Generation;

/// <summary>
/// Sits between the token decoder and the caller: passes text through, but holds back any tail
/// that could still grow into a stop string, and cuts the text where a stop string appears.
/// </summary>
internal sealed class StopStringFilter(IReadOnlyList<string> stops)
{
    private string _held = "";

    public bool Stopped { get; private set; }

    /// <summary>The text that is safe to emit after <paramref name="piece"/>.</summary>
    public string Push(string piece)
    {
        if (Stopped) return "";
        string text = _held + piece;
        int cut = -1;
        foreach (var s in stops)
        {
            int at = text.IndexOf(s, StringComparison.Ordinal);
            if (at >= 0 && (cut < 0 || at < cut))
                cut = at;
        }
        if (cut >= 0)
        {
            Stopped = true;
            _held = "";
            return text[..cut];
        }
        int keep = LongestStopPrefixSuffix(text);
        _held = text[^keep..];
        return text[..^keep];
    }

    /// <summary>What is still held back (generation ended without a stop string).</summary>
    public string Flush()
    {
        string rest = Stopped ? "" : _held;
        _held = "";
        return rest;
    }

    // Length of the longest suffix of text that is a proper prefix of some stop string.
    private int LongestStopPrefixSuffix(string text)
    {
        int best = 0;
        foreach (var s in stops)
            for (int n = Math.Min(s.Length - 1, text.Length); n > best; n--)
                if (text.AsSpan(text.Length - n).SequenceEqual(s.AsSpan(0, n)))
                {
                    best = n;
                    break;
                }
        return best;
    }
}
