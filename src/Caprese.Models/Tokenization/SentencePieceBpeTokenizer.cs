using System.Buffers.Binary;
using System.Text;
using Caprese.Models.Loading;

namespace Caprese.Models.Tokenization;

/// <summary>
/// The sentencepiece BPE tokenizer in llama2.c's file format: an int32 maximum piece length,
/// then per token an f32 merge score, an int32 byte length and the piece bytes.
/// Encoding follows sentencepiece: a dummy-prefix space, one symbol per UTF-8 codepoint
/// (unknown codepoints become byte tokens "&lt;0xXX&gt;"), then greedy merging of the adjacent
/// pair whose concatenation is the highest-scoring vocabulary piece.
/// </summary>
public sealed class SentencePieceBpeTokenizer : ITokenizer
{
    /// <summary>The special ids of llama2.c tokenizer files (sentencepiece's defaults).</summary>
    public const int DefaultUnknownId = 0, DefaultBosId = 1, DefaultEosId = 2;

    // Caps far above real tokenizers: they stop a corrupt file from asking for huge allocations.
    internal const int MaxPieceLengthCap = 1024;
    internal const int MaxVocabCap = 1 << 22;

    // Pieces as Latin-1 strings: one char per byte, so string concatenation equals byte
    // concatenation and arbitrary (even invalid UTF-8) pieces can key a dictionary.
    private readonly string[] _pieces;
    private readonly float[] _scores;
    private readonly byte[][] _decodedBytes;
    private readonly Dictionary<string, int> _idByPiece;
    private readonly int[] _byteFallbackIds;

    private SentencePieceBpeTokenizer(string[] pieces, float[] scores, int maxTokenLength, bool[] isControl,
        int unknownId, int bosId, int eosId, bool addDummyPrefix = true)
    {
        AddDummyPrefix = addDummyPrefix;
        _pieces = pieces;
        _scores = scores;
        MaxTokenLength = maxTokenLength;
        UnknownId = unknownId;
        BosId = bosId;
        EosId = eosId;
        EosIds = [eosId];
        _idByPiece = new Dictionary<string, int>(pieces.Length, StringComparer.Ordinal);
        for (int i = 0; i < pieces.Length; i++)
            _idByPiece.TryAdd(pieces[i], i); // first id wins for duplicated pieces

        _byteFallbackIds = new int[256];
        for (int b = 0; b < 256; b++)
            _byteFallbackIds[b] = _idByPiece.TryGetValue($"<0x{b:X2}>", out int id) ? id : unknownId;

        _decodedBytes = new byte[pieces.Length][];
        for (int i = 0; i < pieces.Length; i++)
            _decodedBytes[i] = DecodedBytesOf(pieces[i], isControl[i]);
    }

    public int VocabSize => _pieces.Length;
    public int MaxTokenLength { get; }
    public int UnknownId { get; }

    /// <summary>Whether encoding prepends a space (Llama 2 and llama2.c do; Gemma does not).</summary>
    public bool AddDummyPrefix { get; }

    public int BosId { get; }
    public int EosId { get; }
    public IReadOnlyCollection<int> EosIds { get; }
    int? ITokenizer.BosId => BosId;

    /// <summary>
    /// A tokenizer from a vocabulary held elsewhere (GGUF metadata, tokenizer.json): pieces with
    /// spaces as ' ' (not sentencepiece's U+2581), merge scores, and which ids are control tokens
    /// (they decode to nothing). Byte tokens are recognised by their "&lt;0xXX&gt;" pieces.
    /// </summary>
    public static SentencePieceBpeTokenizer FromVocabulary(IReadOnlyList<string> pieces, IReadOnlyList<float> scores,
        IReadOnlyList<bool>? isControl = null, int unknownId = DefaultUnknownId, int bosId = DefaultBosId, int eosId = DefaultEosId,
        bool addDummyPrefix = true)
    {
        ArgumentNullException.ThrowIfNull(pieces);
        ArgumentNullException.ThrowIfNull(scores);
        if (pieces.Count != scores.Count || (isControl is not null && isControl.Count != pieces.Count))
            throw new ArgumentException($"{pieces.Count} pieces, {scores.Count} scores and {isControl?.Count} control flags differ in number");
        foreach (var (id, name) in new[] { (unknownId, nameof(unknownId)), (bosId, nameof(bosId)), (eosId, nameof(eosId)) })
            if ((uint)id >= (uint)pieces.Count)
                throw new ArgumentOutOfRangeException(name, id, $"outside the {pieces.Count}-token vocabulary");
        // Pieces are kept as Latin-1 strings of their UTF-8 bytes, like the file format's.
        var latin1 = pieces.Select(p => Encoding.Latin1.GetString(Encoding.UTF8.GetBytes(p))).ToArray();
        var control = isControl?.ToArray() ?? DefaultControl(pieces.Count);
        return new SentencePieceBpeTokenizer(latin1, scores.ToArray(), latin1.Max(p => p.Length), control, unknownId, bosId, eosId, addDummyPrefix);
    }

    private static bool[] DefaultControl(int count)
    {
        var control = new bool[count];
        for (int id = DefaultUnknownId; id <= DefaultEosId && id < count; id++)
            control[id] = true;
        return control;
    }

    /// <summary>Loads a tokenizer file. With <paramref name="vocabSize"/> the file must hold exactly
    /// that many tokens (llama2.c takes the count from the model); without it, tokens run to the end.</summary>
    public static SentencePieceBpeTokenizer Load(string path, int? vocabSize = null)
    {
        var fullPath = Path.GetFullPath(path);
        return FromBytes(File.ReadAllBytes(fullPath), fullPath, vocabSize);
    }

    /// <exception cref="ModelFormatException">The data is not a valid tokenizer.</exception>
    public static SentencePieceBpeTokenizer FromBytes(ReadOnlySpan<byte> data, string sourceName, int? vocabSize = null)
    {
        if (vocabSize is { } expected && (expected < 3 || expected > MaxVocabCap))
            throw new ModelFormatException(sourceName, "vocab size", $"{expected} is outside 3..{MaxVocabCap}");
        if (data.Length < 4)
            throw new ModelFormatException(sourceName, "max_token_length", "file is shorter than its 4-byte header");
        int maxLen = BinaryPrimitives.ReadInt32LittleEndian(data);
        if (maxLen <= 0 || maxLen > MaxPieceLengthCap)
            throw new ModelFormatException(sourceName, "max_token_length", $"value {maxLen} is outside 1..{MaxPieceLengthCap}");

        var pieces = new List<string>(vocabSize ?? 512);
        var scores = new List<float>(vocabSize ?? 512);
        int offset = 4;
        while (vocabSize is { } n ? pieces.Count < n : offset < data.Length)
        {
            int id = pieces.Count;
            if (id >= MaxVocabCap)
                throw new ModelFormatException(sourceName, $"token {id}", $"more than {MaxVocabCap} tokens");
            if (data.Length - offset < 8)
                throw new ModelFormatException(sourceName, $"token {id}", $"record header at byte {offset} runs past the end of the file");
            float score = BinaryPrimitives.ReadSingleLittleEndian(data[offset..]);
            int length = BinaryPrimitives.ReadInt32LittleEndian(data[(offset + 4)..]);
            offset += 8;
            if (float.IsNaN(score))
                throw new ModelFormatException(sourceName, $"token {id}", "score is NaN");
            if (length <= 0 || length > maxLen)
                throw new ModelFormatException(sourceName, $"token {id}", $"length {length} is outside 1..{maxLen} (max_token_length)");
            if (data.Length - offset < length)
                throw new ModelFormatException(sourceName, $"token {id}", $"{length} piece bytes at byte {offset} run past the end of the file");
            pieces.Add(Encoding.Latin1.GetString(data.Slice(offset, length)));
            scores.Add(score);
            offset += length;
        }
        if (offset != data.Length)
            throw new ModelFormatException(sourceName, $"after token {pieces.Count - 1}", $"{data.Length - offset} extra bytes after the last token");
        if (pieces.Count < 3)
            throw new ModelFormatException(sourceName, "vocabulary", $"{pieces.Count} tokens; at least <unk>, <s>, </s> are needed");
        return new SentencePieceBpeTokenizer(pieces.ToArray(), scores.ToArray(), maxLen, DefaultControl(pieces.Count),
            DefaultUnknownId, DefaultBosId, DefaultEosId);
    }

    /// <summary>The raw piece bytes of a token (byte tokens as their "&lt;0xXX&gt;" text).</summary>
    public byte[] PieceBytes(int id) => Encoding.Latin1.GetBytes(_pieces[CheckId(id)]);

    public float Score(int id) => _scores[CheckId(id)];

    /// <summary>The bytes a token stands for in text: byte tokens as their single byte, control tokens as nothing.</summary>
    public ReadOnlySpan<byte> TokenBytes(int id) => _decodedBytes[CheckId(id)];

    public int[] Encode(string text, bool addBos = true, bool addEos = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        var symbols = new List<int>(text.Length + 3);
        if (addBos)
            symbols.Add(BosId);
        if (text.Length > 0)
        {
            int first = symbols.Count;
            // sentencepiece's dummy prefix: words at the start look like words after a space.
            AppendCodepointSymbols(AddDummyPrefix ? " " + text : text, symbols);
            var merged = BpeMerger.Merge(symbols.GetRange(first, symbols.Count - first), _pieces, _scores, _idByPiece);
            symbols.RemoveRange(first, symbols.Count - first);
            symbols.AddRange(merged);
        }
        if (addEos)
            symbols.Add(EosId);
        return symbols.ToArray();
    }

    /// <summary>Decodes a whole sequence (a leading space right after BOS is dropped, as sentencepiece does).</summary>
    public string Decode(ReadOnlySpan<int> ids)
    {
        var decoder = CreateDecoder();
        var sb = new StringBuilder();
        foreach (int id in ids)
            sb.Append(decoder.Append(id));
        sb.Append(decoder.Flush());
        return sb.ToString();
    }

    /// <summary>A decoder for streaming: it holds back incomplete UTF-8 sequences until their last byte arrives.</summary>
    public StreamingTextDecoder CreateDecoder(int previousToken = -1) => new(this, previousToken);

    ITextStreamDecoder ITokenizer.CreateDecoder(int previousToken) => CreateDecoder(previousToken);

    private void AppendCodepointSymbols(string text, List<int> symbols)
    {
        Span<byte> utf8 = stackalloc byte[4];
        foreach (var rune in text.EnumerateRunes())
        {
            int n = rune.EncodeToUtf8(utf8);
            if (_idByPiece.TryGetValue(Encoding.Latin1.GetString(utf8[..n]), out int id))
            {
                symbols.Add(id);
                continue;
            }
            for (int i = 0; i < n; i++)
                symbols.Add(_byteFallbackIds[utf8[i]]);
        }
    }

    private static byte[] DecodedBytesOf(string piece, bool isControl)
    {
        if (isControl)
            return [];
        if (piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece[5] == '>'
            && byte.TryParse(piece.AsSpan(3, 2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out byte b))
            return [b];
        return Encoding.Latin1.GetBytes(piece);
    }

    private int CheckId(int id)
    {
        if ((uint)id >= (uint)_pieces.Length)
            throw new ArgumentOutOfRangeException(nameof(id), id, $"token id outside 0..{_pieces.Length - 1}");
        return id;
    }
}
