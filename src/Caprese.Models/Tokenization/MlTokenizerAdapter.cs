using System.Text;
using Microsoft.ML.Tokenizers;

namespace Caprese.Models.Tokenization;

/// <summary>A Microsoft.ML.Tokenizers tokenizer (byte-level BPE, SentencePiece) behind <see cref="ITokenizer"/>.</summary>
public sealed class MlTokenizerAdapter : ITokenizer
{
    private readonly Tokenizer _inner;

    /// <param name="inner">The tokenizer; it adds no BOS itself (this adapter does, when <paramref name="bosId"/> is set).</param>
    /// <param name="vocabSize">Ids the tokenizer can produce (special tokens included).</param>
    /// <param name="bosId">The id prepended by <see cref="Encode"/>, or null.</param>
    /// <param name="eosIds">Ids that end generation.</param>
    public MlTokenizerAdapter(Tokenizer inner, int vocabSize, int? bosId, IReadOnlyCollection<int> eosIds)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(eosIds);
        _inner = inner;
        VocabSize = vocabSize;
        BosId = bosId;
        EosIds = eosIds;
    }

    public int VocabSize { get; }
    public int? BosId { get; }
    public IReadOnlyCollection<int> EosIds { get; }

    public int[] Encode(string text, bool addBos = true, bool addEos = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>();
        if (addBos && BosId is { } bos)
            ids.Add(bos);
        if (text.Length > 0)
            ids.AddRange(_inner.EncodeToIds(text));
        if (addEos && EosIds.Count > 0)
            ids.Add(EosIds.First());
        return [.. ids];
    }

    public string Decode(ReadOnlySpan<int> ids)
    {
        var kept = new List<int>(ids.Length);
        foreach (int id in ids)
            if (id != BosId && !EosIds.Contains(id))
                kept.Add(id);
        return _inner.Decode(kept) ?? string.Empty;
    }

    public ITextStreamDecoder CreateDecoder(int previousToken = -1) => new PrefixDiffDecoder(this, previousToken);

    /// <summary>
    /// Streams by decoding (context + pending ids) and emitting what (context) alone does not
    /// explain: the context token keeps word-boundary spaces right, and ids whose text ends in an
    /// incomplete character (U+FFFD) stay pending until a later id completes it.
    /// </summary>
    private sealed class PrefixDiffDecoder(MlTokenizerAdapter tokenizer, int previousToken) : ITextStreamDecoder
    {
        private readonly List<int> _pending = [];
        private int _context = previousToken;

        public string Append(int id)
        {
            _pending.Add(id);
            string text = Pending();
            if (text.EndsWith('\uFFFD') && _pending.Count < 8)
                return string.Empty;
            _context = _pending[^1];
            _pending.Clear();
            return text;
        }

        public string Flush()
        {
            string text = _pending.Count > 0 ? Pending() : string.Empty;
            _pending.Clear();
            return text;
        }

        private string Pending()
        {
            if (_context < 0 || _context == tokenizer.BosId)
                return tokenizer.Decode(_pending.ToArray());
            string before = tokenizer.Decode([_context]);
            string all = tokenizer.Decode([_context, .. _pending]);
            return all.StartsWith(before, StringComparison.Ordinal) ? all[before.Length..] : tokenizer.Decode(_pending.ToArray());
        }
    }
}
