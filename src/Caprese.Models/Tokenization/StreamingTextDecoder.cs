using System.Text;

namespace Caprese.Models.Tokenization;

/// <summary>
/// Turns generated token ids into text piece by piece. A character split across byte tokens
/// is held back until it is complete, so every returned string is valid text.
/// </summary>
public sealed class StreamingTextDecoder : ITextStreamDecoder
{
    private readonly SentencePieceBpeTokenizer _tokenizer;
    private readonly Decoder _utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
    private readonly char[] _chars = new char[64];
    private int _previous;

    internal StreamingTextDecoder(SentencePieceBpeTokenizer tokenizer, int previousToken)
    {
        _tokenizer = tokenizer;
        _previous = previousToken;
    }

    /// <summary>The text token <paramref name="id"/> completes (possibly empty).</summary>
    public string Append(int id)
    {
        var bytes = _tokenizer.TokenBytes(id);
        // sentencepiece drops the dummy-prefix space of the first word after BOS.
        if (_tokenizer.AddDummyPrefix && _previous == _tokenizer.BosId && bytes.Length > 0 && bytes[0] == (byte)' ')
            bytes = bytes[1..];
        _previous = id;
        return Convert(bytes, flush: false);
    }

    /// <summary>Emits what is still held back (an incomplete character becomes U+FFFD).</summary>
    public string Flush() => Convert([], flush: true);

    private string Convert(ReadOnlySpan<byte> bytes, bool flush)
    {
        int count = _utf8.GetCharCount(bytes, flush);
        Span<char> chars = count <= _chars.Length ? _chars : new char[count];
        int written = _utf8.GetChars(bytes, chars, flush);
        return written == 0 ? string.Empty : new string(chars[..written]);
    }
}
